/**
 * What the generated code does, not just what it looks like: the tiny fixture is generated into the
 * workspace (package-style imports), then its codecs, guest stubs and dispatcher run against a fake
 * guest memory and a fake hypervisor context.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  GuestFault,
  HypercallError,
  XenError,
  type HypercallContext,
  type HypercallTransport,
} from "@pvkit/abi";
import { buildModel } from "../src/index.ts";
import { generateAll } from "../src/generate.ts";
import { EXAMPLES_PATH } from "../src/emit/markdown.ts";
import { render } from "../src/output.ts";
import { abi as tiny } from "./fixtures/tiny/abi.ts";
import { REPO } from "./helpers.ts";

const dir = join(REPO, "codegen/.test-gen", `behaviour-${process.pid}`);
let L: any;
let G: any;
let D: any;

beforeAll(async () => {
  for (const f of await render(generateAll(buildModel(tiny), "package"), REPO)) {
    // The examples are guest code (they import the guest kernel) and are not run here.
    if (f.path === EXAMPLES_PATH) continue;
    await mkdir(join(dir, f.path, ".."), { recursive: true });
    await writeFile(join(dir, f.path), f.content);
  }
  L = await import(join(dir, "abi/src/generated/layout.ts"));
  G = await import(join(dir, "abi/src/generated/guest.ts"));
  D = await import(join(dir, "hypervisor/src/generated/dispatch.ts"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A guest's memory as one flat buffer, and a transport whose trap calls the dispatcher directly. */
function machine(handlers: unknown, privileged = true) {
  const mem = new Uint8Array(64 * 1024);
  const ctx: HypercallContext = {
    privileged,
    copyFromGuest(addr, len) {
      if (addr < 0n || addr + BigInt(len) > BigInt(mem.length)) throw new GuestFault(addr, len);
      return new DataView(mem.slice(Number(addr), Number(addr) + len).buffer);
    },
    copyToGuest(addr, bytes) {
      if (addr < 0n || addr + BigInt(bytes.length) > BigInt(mem.length))
        throw new GuestFault(addr, bytes.length);
      mem.set(bytes, Number(addr));
    },
  };
  const traps: { op: number; args: bigint[] }[] = [];
  const transport: HypercallTransport = {
    memory: {
      read: (addr, len) => mem.slice(addr, addr + len),
      write: (addr, bytes) => mem.set(bytes, addr),
    },
    scratch: { addr: 4096, size: 4096 },
    trap(op, args) {
      traps.push({ op, args: [...args] });
      const r = D.dispatchHypercall(handlers, ctx, op, args);
      if (typeof r !== "number") throw new Error("sync trap got a Promise");
      return BigInt(r);
    },
    async trapAsync(op, args) {
      traps.push({ op, args: [...args] });
      return BigInt(await D.dispatchHypercall(handlers, ctx, op, args));
    },
  };
  return { mem, ctx, transport, traps, hc: new G.Hypercalls(transport) };
}

const enosys = () => -38;
function handlers(over: Record<string, any> = {}) {
  return {
    demoOp: { pair: enosys, all: enosys, count: enosys, wait: enosys, admin: enosys, ...over.demoOp },
    demoArrayOp: { pairs: enosys, ...over.demoArrayOp },
    demoIo: { write: enosys, read: enosys, ...over.demoIo },
    demoTimer: over.demoTimer ?? enosys,
    demoCtl: { get: enosys, kill: enosys, ...over.demoCtl },
  };
}

describe("codecs", () => {
  it("round-trip every field type (fast-check)", () => {
    const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    const pair = fc.record({ a: fc.integer({ min: 0, max: 0xffff }), b: u64 });
    const all = fc.record({
      s8: fc.integer({ min: -128, max: 127 }),
      name: fc.stringMatching(/^[a-z]{0,7}$/),
      words: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 2, maxLength: 2 }),
      raw: fc.uint8Array({ minLength: 4, maxLength: 4 }),
      handle: u64,
      pairs: fc.array(pair, { minLength: 2, maxLength: 2 }),
      frame: u64,
    });
    fc.assert(
      fc.property(all, ({ frame, ...v }) => {
        const value = { ...v, u: { frame } };
        const view = new DataView(new ArrayBuffer(L.DemoAll.size + 8));
        L.DemoAll.encode(view, 8, value);
        const back = L.DemoAll.decode(view, 8);
        expect({ ...back, u: { frame: back.u.frame } }).toEqual(value);
        // The union decodes every variant from the same bytes: ref is frame's low 32 bits.
        expect(back.u.ref).toBe(Number(frame & 0xffffffffn));
      }),
    );
  });

  it("puts fields at the C offsets and zeroes padding", () => {
    expect(L.DemoPair.offsets).toEqual({ a: 0, b: 8 });
    const view = new DataView(new ArrayBuffer(16));
    new Uint8Array(view.buffer).fill(0xee);
    L.DemoPair.encode(view, 0, { a: 0x1234, b: 0x0102030405060708n });
    expect([...new Uint8Array(view.buffer)]).toEqual([0x34, 0x12, 0, 0, 0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it("writes an array's elements left out as zeros, over whatever the bytes held", () => {
    const view = new DataView(new ArrayBuffer(L.DemoAll.size));
    new Uint8Array(view.buffer).fill(0xee);
    const one = { a: 7, b: 9n };
    L.DemoAll.encode(view, 0, { ...L.DemoAll.zero(), pairs: [one] });
    const pairs = new Uint8Array(view.buffer, L.DemoAll.offsets.pairs);
    expect([...pairs.subarray(0, 16)]).toEqual([7, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
    expect([...pairs.subarray(16, 32)]).toEqual(new Array(16).fill(0));
    expect(L.DemoAll.decode(view, 0).pairs).toEqual([one, { a: 0, b: 0n }]);
  });
});

describe("guest stubs and dispatcher", () => {
  it("marshal a struct, pass value registers in order, and copy out fields back", () => {
    const m = machine(
      handlers({
        demoOp: {
          pair: (_c: unknown, vcpu: number, arg: { a: number; b: bigint }) => {
            arg.b = BigInt(arg.a) * 1000n + BigInt(vcpu);
            return 0;
          },
        },
      }),
    );
    expect(m.hc.demoOp.pair(3, { a: 7 })).toEqual({ a: 7, b: 7003n });
    expect(m.traps[0]).toEqual({ op: 64, args: [0n, 3n, 4096n] });
  });

  it("does not copy back when the handler fails, and throws XenError with the errno name", () => {
    const m = machine(
      handlers({
        demoOp: {
          pair: (_c: unknown, _v: number, arg: { b: bigint }) => {
            arg.b = 99n;
            return -22;
          },
        },
      }),
    );
    expect(() => m.hc.demoOp.pair(0, { a: 1 })).toThrow(XenError);
    expect(() => m.hc.demoOp.pair(0, { a: 1 })).toThrow("demo_op.pair: -EINVAL (-22)");
    expect(L.DemoPair.decode(new DataView(m.mem.buffer), 4096).b).toBe(0n);
  });

  it("validates registers: unknown op/sub-op → ENOSYS, out-of-range value → EINVAL, bad pointer → EFAULT", () => {
    const m = machine(handlers({ demoOp: { pair: () => 0 } }));
    expect(D.dispatchHypercall(handlers(), m.ctx, 200, [])).toBe(-38);
    expect(D.dispatchHypercall(handlers(), m.ctx, 64, [77n, 0n, 4096n])).toBe(-38);
    expect(D.dispatchHypercall(handlers(), m.ctx, 64, [0n, 1n << 32n, 4096n])).toBe(-22);
    expect(D.dispatchHypercall(handlers({ demoOp: { pair: () => 0 } }), m.ctx, 64, [0n, 0n, 1n << 40n])).toBe(
      -14,
    );
  });

  it("refuses privileged sub-ops to an unprivileged domain with EPERM", () => {
    const admin = () => 0;
    expect(machine(handlers({ demoOp: { admin } }), false).hc.demoOp.admin.bind(null, 0)).toThrow(/EPERM/);
    expect(machine(handlers({ demoOp: { admin } }), true).hc.demoOp.admin(0)).toBeUndefined();
  });

  it("turns HypercallError into -errno and a handler bug into -EFAULT, never an exception", () => {
    const m = machine(handlers());
    const boom = handlers({
      demoOp: {
        pair: () => {
          throw new HypercallError(13);
        },
      },
    });
    expect(D.dispatchHypercall(boom, m.ctx, 64, [0n, 0n, 4096n])).toBe(-13);
    const bug = handlers({
      demoOp: {
        pair: () => {
          throw new TypeError("oops");
        },
      },
    });
    const err = console.error;
    console.error = () => {};
    try {
      expect(D.dispatchHypercall(bug, m.ctx, 64, [0n, 0n, 4096n])).toBe(-14);
    } finally {
      console.error = err;
    }
  });

  it("runs struct arrays element by element and caps the count", () => {
    const seen: number[] = [];
    const m = machine(
      handlers({
        demoArrayOp: {
          pairs: (_c: unknown, op: { a: number; b: bigint }, i: number) => {
            seen.push(i);
            op.b = BigInt(op.a + 1);
            return 0;
          },
        },
      }),
    );
    expect(m.hc.demoArrayOp.pairs([{ a: 1 }, { a: 2 }, { a: 3 }]).map((p: { b: bigint }) => p.b)).toEqual([
      2n,
      3n,
      4n,
    ]);
    expect(seen).toEqual([0, 1, 2]);
    expect(D.dispatchHypercall(handlers(), m.ctx, 65, [0n, 4096n, 513n])).toBe(-22);
  });

  it("moves buffers both ways", () => {
    let got = "";
    const m = machine(
      handlers({
        demoIo: {
          write: (_c: unknown, bytes: Uint8Array) => ((got = new TextDecoder().decode(bytes)), bytes.length),
          read: (_c: unknown, max: number) => new TextEncoder().encode("hello from xen").subarray(0, max),
        },
      }),
    );
    expect(m.hc.demoIo.write(new TextEncoder().encode("hi"))).toBe(2);
    expect(got).toBe("hi");
    expect(new TextDecoder().decode(m.hc.demoIo.read(5))).toBe("hello");
  });

  it("settles blocking sub-ops asynchronously", async () => {
    let release!: (n: number) => void;
    const m = machine(handlers({ demoOp: { wait: () => new Promise<number>((r) => (release = r)) } }));
    const p = m.hc.demoOp.wait(0);
    release(0);
    await expect(p).resolves.toBeUndefined();
  });

  it("checks an envelope's interface version and passes its target", () => {
    const m = machine(
      handlers({
        demoCtl: {
          get: (_c: unknown, domain: number, arg: { a: number; b: bigint }) => {
            arg.b = BigInt(domain);
            return 0;
          },
        },
      }),
    );
    expect(m.hc.demoCtl.get(42, { a: 0 })).toEqual({ a: 0, b: 42n });
    L.DemoHdr.encode(new DataView(m.mem.buffer), 4096, { cmd: 1, version: 6, domain: 0, pad: [0, 0, 0] });
    expect(D.dispatchHypercall(handlers(), m.ctx, 68, [4096n])).toBe(-13);
  });

  it("passes 64-bit value registers for hypercalls without sub-ops", () => {
    let t = 0n;
    const m = machine(handlers({ demoTimer: (_c: unknown, timeout: bigint) => ((t = timeout), 0) }));
    m.hc.demoTimer(0xffff_ffff_ffffn);
    expect(t).toBe(0xffff_ffff_ffffn);
  });

  it("names calls for traces", () => {
    expect(D.hypercallName(64, 1)).toBe("demo_op.all");
    expect(D.hypercallName(67)).toBe("demo_timer");
    expect(D.hypercallName(999)).toBe("hypercall_999");
  });
});
