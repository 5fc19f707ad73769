/**
 * The errors docs/abi-reference.md lists for each call are the errors it returns. Random sequences of
 * hypercalls — every sub-op, with edge-value registers, structs filled field by field with likely and
 * hostile values, lists and strings behind their pointers, bad pointers — run through the real
 * dispatcher, handlers and subsystems of a real Hypervisor, from dom0 and from a domU. Every negative
 * result must be an errno the reference documents for that call (its own, its hypercall's, the
 * dispatcher's) or one any call may return; no handler may throw (that surfaces as -EFAULT plus a
 * "hypervisor bug" line, and fails the test). PVKIT_ERRNO_RUNS makes a longer run.
 *
 * The test is the vCPU: domains are built but no worker is started (a domain's `launching` is set as
 * it is created), so calls are made exactly as the trap service makes them, without a guest. Errors
 * that only a long history reaches (a full port table, both watchdogs armed, a full machine) are
 * also made to happen on purpose, as their rows say.
 */
import type { StructCodec } from "@pvkit/abi";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { abi } from "@pvkit/abi";
import * as L from "@pvkit/abi/layout";
import {
  COMMON_ERRORS,
  buildModel,
  documentedErrors,
  type AbiModel,
  type FieldLayout,
  type HypercallModel,
  type StructLayout,
  type SubopModel,
} from "@pvkit/codegen";
import { dispatchHypercall } from "@pvkit/hypervisor/generated/dispatch";
import { DomainContext } from "@pvkit/hypervisor/hypercalls/context";
import { handlers } from "@pvkit/hypervisor/hypercalls/table";
import { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import type { Domain } from "@pvkit/hypervisor/domain/domain";

const RUNS = Number(process.env.PVKIT_ERRNO_RUNS ?? 2000);
const PAGE = 4096;
/** Where the test puts a call's argument struct (or array, or envelope) in the caller's memory. */
const ARG = 8 * PAGE;
/** Pages the argument's own pointers point into: u32 lists, u64 lists, a file: URL, random bytes. */
const U32_LIST = 9 * PAGE;
const U64_LIST = 10 * PAGE;
const STRING = 11 * PAGE;
const BYTES = 12 * PAGE;
const CALLER_PAGES = 32;
/** The pages above, which a call's arguments are written into before it is made. */
const SCRATCH_PFNS = [ARG, U32_LIST, U64_LIST, STRING, BYTES].map((a) => a / PAGE);

interface Call {
  h: HypercallModel;
  s?: SubopModel;
}

const model: AbiModel = buildModel(abi);
const calls: Call[] = model.hypercalls.flatMap((h) =>
  h.subops.length === 0 ? [{ h }] : h.subops.map((s) => ({ h, s })),
);
const callName = (c: Call) => (c.s ? `${c.h.name}.${c.s.name}` : c.h.name);

/** mulberry32: every value below comes from the seed fast-check chose, so a failure replays. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const u64 = () => (BigInt(int(2 ** 32)) << 32n) | BigInt(int(2 ** 32));
  return { next, int, pick, u64 };
}
type Rng = ReturnType<typeof rng>;

/** Values that reach both the working and the failing paths: live domids, reserved ones, limits. */
const DOMIDS = [0, 1, 2, 3, L.DOMID_SELF, L.DOMID_XEN, L.DOMID_IO, 0x7fff, 0xffff];
const SMALL = [0, 1, 2, 3, 4, 5, 6, 7, 8, 31, 32, 512, 513, 4095, 4096];

function scalar(r: Rng, type: string): number | bigint {
  const roll = r.next();
  switch (type) {
    case "u8":
      return roll < 0.7 ? r.pick([0, 1, 2, 3, 4, 5, 255]) : r.int(256);
    case "u16":
      return roll < 0.8 ? r.pick(DOMIDS) : r.int(0x10000);
    case "u32":
      return roll < 0.8 ? r.pick(SMALL) : r.pick([0xffffffff, 0x80000000, r.int(2 ** 32)]);
    case "i8":
    case "i16":
    case "i32":
      return roll < 0.8 ? r.pick([0, 1, 2, 3, -1]) : -r.int(2 ** 15);
    default: // u64, i64
      return roll < 0.7
        ? BigInt(r.pick([0, 1, 2, 3, 16, 64, 1000, 1_000_000, 4096, 65536]))
        : r.pick([2n ** 63n, 2n ** 64n - 1n, r.u64()]);
  }
}

/** A guest address: mostly one of the prepared pages, sometimes one the caller does not have. */
function pointer(r: Rng): bigint {
  const roll = r.next();
  if (roll < 0.75) return BigInt(r.pick([U32_LIST, U64_LIST, STRING, BYTES]) + 8 * r.int(8));
  return r.pick([0n, 1n << 40n, 2n ** 64n - 1n, BigInt(CALLER_PAGES * PAGE - 4), r.u64()]);
}

/** Writes one field (recursing into structs, one variant of a union) with likely and hostile values. */
function fill(view: DataView, at: number, f: { type: FieldLayout["type"]; size: number }, r: Rng) {
  const t = f.type;
  if (t === "ptr") return view.setBigUint64(at, pointer(r), true);
  if (typeof t === "string") {
    const v = scalar(r, t);
    if (t === "u8" || t === "i8") view.setUint8(at, Number(v) & 0xff);
    else if (t === "u16" || t === "i16") view.setUint16(at, Number(v) & 0xffff, true);
    else if (t === "u32" || t === "i32") view.setUint32(at, Number(v) >>> 0, true);
    else view.setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true);
    return;
  }
  if ("struct" in t || "union" in t) {
    const st = model.structs.get("struct" in t ? t.struct : t.union)!;
    const fields = st.kind === "union" ? [r.pick(st.fields)] : st.fields;
    for (const g of fields) fill(view, at + g.offset, g, r);
    return;
  }
  if ("chars" in t || t.array === "u8") {
    for (let i = 0; i < f.size; i++) view.setUint8(at + i, r.next() < 0.5 ? 0 : r.int(256));
    return;
  }
  const n = t.length;
  const el = f.size / n;
  for (let i = 0; i < n; i++) fill(view, at + i * el, { type: t.array, size: el }, r);
}

function structBytes(st: StructLayout, r: Rng): Uint8Array {
  const bytes = new Uint8Array(st.size);
  const view = new DataView(bytes.buffer);
  for (const f of st.kind === "union" ? [r.pick(st.fields)] : st.fields) fill(view, f.offset, f, r);
  return bytes;
}

/** One call's registers, with what it points at written into the caller's memory first. */
function prepare(ctx: DomainContext, c: Call, r: Rng): bigint[] {
  const { h, s } = c;
  const argPtr = () => (r.next() < 0.9 ? BigInt(ARG) : pointer(r));
  const st = s?.arg.kind === "struct" ? s.arg.struct : undefined;
  if (h.envelope && s) {
    const e = h.envelope;
    const env = new Uint8Array(e.size);
    const view = new DataView(env.buffer);
    for (const f of e.headerLayout.fields) {
      if (f.name === e.cmdField) view.setUint32(f.offset, s.number, true);
      else if (f.name === e.versionField)
        view.setUint32(f.offset, r.next() < 0.95 ? e.version : r.int(64), true);
      else fill(view, f.offset, f, r);
    }
    if (st) env.set(structBytes(st, r), e.payloadOffset);
    ctx.copyToGuest(BigInt(ARG), env);
    return [argPtr()];
  }
  const regs: bigint[] = [];
  const isArray = h.args.some((a) => a.kind === "structArray");
  const count = isArray || s?.buffer ? r.pick([0, 1, 2, 3, 3, 64, 513, 1 << 21]) : 0;
  if (st) {
    const n = isArray ? Math.min(count, 4) : 1;
    for (let i = 0; i < n; i++) ctx.copyToGuest(BigInt(ARG + i * st.size), structBytes(st, r));
  } else if (s?.arg.kind === "scalar") {
    const v = new DataView(new ArrayBuffer(8));
    v.setUint16(0, r.pick(DOMIDS), true);
    ctx.copyToGuest(BigInt(ARG), new Uint8Array(v.buffer, 0, 2));
  }
  for (const a of h.args) {
    if (a.kind === "subop") regs.push(BigInt(s!.number));
    else if (a.kind === "value")
      regs.push(
        r.next() < 0.8 ? BigInt(r.pick([0, 1, 2, 1000])) : r.pick([2n ** 32n, 2n ** 64n - 1n, r.u64()]),
      );
    else if (a.kind === "count") regs.push(BigInt(count));
    else if (a.kind === "buffer") regs.push(r.next() < 0.9 ? BigInt(BYTES) : pointer(r));
    else regs.push(argPtr());
  }
  return regs;
}

/** What a call may return besides success: the reference's rows for it plus the common ones. */
const allowed = new Map<Call, Map<number, string>>(
  calls.map((c) => {
    const m = new Map<number, string>();
    for (const e of COMMON_ERRORS) m.set(model.errno.get(e.errno)!, e.errno);
    for (const row of documentedErrors(model, c.h, c.s).rows) m.set(row.value, row.errno);
    return [c, m];
  }),
);

let hv: Hypervisor;
const bugs: string[] = [];

beforeAll(() => {
  // Not booted: no trap service, no watchdog; the test makes the calls the trap service would.
  hv = new Hypervisor({ memoryMiB: 256, cells: false });
  hv.on("domain", (e: { domid: number; state: string }) => {
    const d = e.state === "created" ? hv.domains.get(e.domid) : undefined;
    if (d) d.launching = Promise.resolve(); // an unpause must not start a worker: there is no guest
  });
  const error = console.error.bind(console);
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    const line = args.map(String).join(" ");
    if (line.includes("hypervisor bug")) bugs.push(line);
    else error(...args);
  });
});
afterAll(async () => {
  vi.restoreAllMocks();
  await hv?.close();
});

/** dom0 (privileged), domU 1 (built with rings to dom0: ports and grants in place), domain 2 (bare). */
function world() {
  for (const id of [...hv.domains.keys()]) hv.destroyDomain(id);
  const dom0 = hv.newDomain(0, "Domain-0", 64, true);
  const domU = hv.newDomain(1, "domU", 64);
  const bare = hv.newDomain(2, "bare", 64);
  if (typeof dom0 === "number" || typeof domU === "number" || typeof bare === "number")
    throw new Error("test world: cannot create its domains");
  for (const [d, rings] of [
    [dom0, false],
    [domU, true],
  ] as const) {
    const b = hv.build(d, { nrPages: CALLER_PAGES, rings, backend: 0 });
    if (typeof b === "number") throw new Error(`test world: build dom${d.domid}: ${b}`);
    const ctx = new DomainContext(hv, d, d.vcpu);
    const u32 = new DataView(new ArrayBuffer(PAGE));
    const u64 = new DataView(new ArrayBuffer(PAGE));
    for (let i = 0; i < PAGE / 4; i++) u32.setUint32(i * 4, i % 9, true);
    for (let i = 0; i < PAGE / 8; i++) u64.setBigUint64(i * 8, BigInt(8 + (i % 40)), true);
    ctx.copyToGuest(BigInt(U32_LIST), new Uint8Array(u32.buffer));
    ctx.copyToGuest(BigInt(U64_LIST), new Uint8Array(u64.buffer));
    ctx.copyToGuest(BigInt(STRING), new TextEncoder().encode("file:///pvkit/guest.ts".padEnd(PAGE, "x")));
    ctx.copyToGuest(
      BigInt(BYTES),
      new Uint8Array(PAGE).map((_, i) => (i * 7919) & 0xff),
    );
  }
  return [dom0, domU];
}

describe("every errno a call returns is one the reference documents for it", () => {
  it("each call (sub-op or plain hypercall) documents its own errors", () => {
    const undocumented = calls.filter((c) => !documentedErrors(model, c.h, c.s).documented).map(callName);
    expect(undocumented).toEqual([]);
  });

  it(`${RUNS} random sequences of calls from dom0 and a domU`, async () => {
    const seen = new Map<string, number>();
    const undocumented = new Map<string, Set<string>>();
    await fc
      .assert(
        fc.asyncProperty(
          fc.array(fc.record({ call: fc.nat(calls.length - 1), caller: fc.nat(1), seed: fc.integer() }), {
            minLength: 1,
            maxLength: 8,
          }),
          async (steps) => {
            const callers = world();
            for (const step of steps) {
              const d = callers[step.caller]!;
              if (!d.alive || hv.domains.get(d.domid) !== d) continue; // a shut-down domain makes no calls
              // Nor does one that gave back (decrease_reservation) a page the test writes calls into.
              if (SCRATCH_PFNS.some((pfn) => !d.p2m.has(pfn))) continue;
              const c = calls[step.call]!;
              const r = rng(step.seed);
              const ctx = new DomainContext(hv, d, d.vcpu);
              let result = dispatchHypercall(handlers, ctx, c.h.number, prepare(ctx, c, r));
              if (typeof result !== "number") {
                d.vcpu.wake?.(); // a blocked SCHEDOP_block/poll: the event it waits for arrives
                result = await result;
              }
              seen.set(callName(c), (seen.get(callName(c)) ?? 0) + 1);
              if (result < 0 && !allowed.get(c)!.has(-result)) {
                const set = undocumented.get(callName(c)) ?? new Set();
                set.add(L.errnoName(-result));
                undocumented.set(callName(c), set);
                return false;
              }
            }
            return bugs.length === 0;
          },
        ),
        { numRuns: RUNS },
      )
      .catch((e: unknown) => {
        const found = [...undocumented].map(([k, v]) => `${k}: ${[...v].join(", ")}`);
        throw new Error(
          `undocumented errnos:\n${found.join("\n")}\nhandler bugs:\n${bugs.join("\n")}\n${String(e)}`,
        );
      });
    // Every call was made: a sub-op the generator could not reach would be checked by nothing.
    expect(calls.filter((c) => !seen.has(callName(c))).map(callName)).toEqual([]);
  }, 120_000);
});

/** Makes `name` (hypercall.sub-op) from `d` with `arg` encoded at ARG: [sub-op, pointer] calls only. */
function make<T>(d: Domain, name: string, codec: StructCodec<T>, arg: Partial<T>): number {
  const c = calls.find((x) => callName(x) === name)!;
  const view = new DataView(new ArrayBuffer(codec.size));
  codec.encode(view, 0, { ...codec.zero(), ...arg });
  const ctx = new DomainContext(hv, d, d.vcpu);
  ctx.copyToGuest(BigInt(ARG), new Uint8Array(view.buffer));
  const r = dispatchHypercall(handlers, ctx, c.h.number, [BigInt(c.s!.number), BigInt(ARG)]);
  if (typeof r !== "number") throw new Error(`${name} blocked`);
  return r;
}

/** Asserts `result` is -errno and that the reference lists errno for the call. */
function failsAsDocumented(name: string, result: number, errno: string) {
  expect(L.errnoName(-result), name).toBe(errno);
  const c = calls.find((x) => callName(x) === name)!;
  expect(
    documentedErrors(model, c.h, c.s).rows.map((r) => r.errno),
    name,
  ).toContain(errno);
}

describe("errors random calls rarely reach happen as the reference says", () => {
  it("a VIRQ bound twice, a full port table, a third watchdog", () => {
    const [, domU] = world();
    const virq = { virq: L.VIRQ_DEBUG, vcpu: 0 };
    expect(make(domU!, "event_channel_op.bind_virq", L.EvtchnBindVirq, virq)).toBe(0);
    failsAsDocumented(
      "event_channel_op.bind_virq",
      make(domU!, "event_channel_op.bind_virq", L.EvtchnBindVirq, virq),
      "EEXIST",
    );

    let r = 0;
    const unbound = { dom: L.DOMID_SELF, remote_dom: 0 };
    for (let i = 0; i < L.EVTCHN_2L_NR_CHANNELS && r === 0; i++)
      r = make(domU!, "event_channel_op.alloc_unbound", L.EvtchnAllocUnbound, unbound);
    failsAsDocumented("event_channel_op.alloc_unbound", r, "ENOSPC");
    failsAsDocumented(
      "event_channel_op.bind_ipi",
      make(domU!, "event_channel_op.bind_ipi", L.EvtchnBindIpi, { vcpu: 0 }),
      "ENOSPC",
    );
    failsAsDocumented(
      "event_channel_op.bind_virq",
      make(domU!, "event_channel_op.bind_virq", L.EvtchnBindVirq, { virq: L.VIRQ_CONSOLE, vcpu: 0 }),
      "ENOSPC",
    );

    const dog = { id: 0, timeout: 1000 };
    expect(make(domU!, "sched_op.watchdog", L.SchedWatchdog, dog)).toBe(1);
    expect(make(domU!, "sched_op.watchdog", L.SchedWatchdog, dog)).toBe(2);
    failsAsDocumented("sched_op.watchdog", make(domU!, "sched_op.watchdog", L.SchedWatchdog, dog), "ENOSPC");
    failsAsDocumented(
      "sched_op.watchdog",
      make(domU!, "sched_op.watchdog", L.SchedWatchdog, { id: 3, timeout: 1 }),
      "EINVAL",
    );
  });

  it("a domain the machine cannot promise memory to", () => {
    const [dom0] = world();
    const c = calls.find((x) => callName(x) === "domctl.createdomain")!;
    const e = c.h.envelope!;
    const ctx = new DomainContext(hv, dom0!, dom0!.vcpu);
    let r = 0;
    for (let id = 10; id < 0x7ff0 && r >= 0; id++) {
      const env = new DataView(new ArrayBuffer(e.size));
      L.XenDomctlHeader.encode(env, 0, {
        ...L.XenDomctlHeader.zero(),
        cmd: c.s!.number,
        interface_version: e.version,
        domain: id,
      });
      ctx.copyToGuest(BigInt(ARG), new Uint8Array(env.buffer));
      r = dispatchHypercall(handlers, ctx, c.h.number, [BigInt(ARG)]) as number;
    }
    failsAsDocumented("domctl.createdomain", r, "ENOMEM");
  });
});
