// Tracing's parts: names from the ABI (domctl's sub-op read from its envelope in guest memory),
// recording windows and the event limit, evtchn and grant flows drawn by the subsystems themselves,
// the Chrome JSON a viewer gets, and the SVG rendering of it. test/e2e/trace.test.ts runs it all on
// a real host.
import { abi, GuestFault, type GuestCopier } from "@pvkit/abi";
import { hypercallOpName, hypercallResult, subopSource } from "@pvkit/abi/hypercall-names";
import { XenDomctlHeader } from "@pvkit/abi/layout";
import { describe, expect, it } from "vitest";
import {
  DOMID_SELF,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_host_map,
  GNTST_okay,
} from "../src/gnttab/consts.ts";
import type { Domain } from "../src/domain/domain.ts";
import { Vcpu } from "../src/domain/vcpu.ts";
import type { Frame } from "../src/gnttab/host.ts";
import { FakeGnttabHost } from "../src/gnttab/fake_host.ts";
import { GrantTables } from "../src/gnttab/gnttab.ts";
import { FakeEvtchnHost } from "../src/evtchn/fake_host.ts";
import { EventChannels } from "../src/evtchn/evtchn.ts";
import { chromeTrace, traceCounts, traceSummary } from "../src/trace/chrome-json.ts";
import { tracedHypercall } from "../src/trace/hypercall-span.ts";
import { renderTraceSvg } from "../src/trace/render-svg.ts";
import { Tracer } from "../src/trace/tracer.ts";
import { traceProblems } from "../src/trace/validate.ts";
import { GuestGrants } from "./gnttab-guest.ts";

type Ev = Record<string, unknown> & { name: string; ph: string; pid: number; tid: number };
const slices = (t: { traceEvents: Record<string, unknown>[] }) =>
  t.traceEvents.filter((e) => e.ph === "X") as Ev[];

/** One page of guest memory at address 0x1000, as copy_from_guest sees it. */
function guestPage(): GuestCopier & { bytes: DataView } {
  const bytes = new DataView(new ArrayBuffer(4096));
  return {
    bytes,
    copyFromGuest(addr, len) {
      if (addr < 0x1000n || addr + BigInt(len) > 0x2000n) throw new GuestFault(addr, len);
      return new DataView(bytes.buffer.slice(Number(addr) - 0x1000, Number(addr) - 0x1000 + len));
    },
    copyToGuest() {},
  };
}

describe("hypercall names from the ABI", () => {
  it("names every sub-op of every hypercall by its C constant, never by a number", () => {
    expect(hypercallOpName(32, 4)).toBe("event_channel_op/EVTCHNOP_send");
    expect(hypercallOpName(36, 1)).toBe("domctl/XEN_DOMCTL_createdomain");
    expect(hypercallOpName(20, 0)).toBe("grant_table_op/GNTTABOP_map_grant_ref");
    expect(hypercallOpName(15)).toBe("set_timer_op");
    expect(hypercallOpName(32, 99)).toBe("event_channel_op/unknown sub-op 99");
    expect(hypercallOpName(1000)).toBe("unknown hypercall 1000");
    for (const d of abi.definitions) {
      if (d.kind !== "hypercall") continue;
      for (const s of d.subops ?? []) {
        const name = hypercallOpName(d.number, s.number);
        expect(name).toBe(`${d.name}/${d.subopPrefix}${s.name}`);
        expect(name).not.toMatch(/\.\d+$/);
      }
    }
  });

  it("finds domctl's and sysctl's sub-op in the envelope, the rest in a register", () => {
    expect(subopSource(36)).toMatchObject({ kind: "envelope", arg: 0, field: "cmd" });
    expect(subopSource(35)).toMatchObject({ kind: "envelope", arg: 0, field: "cmd" });
    expect(subopSource(32)).toEqual({ kind: "register", arg: 0 });
    expect(subopSource(24)).toEqual({ kind: "register", arg: 0 });
    expect(subopSource(15)).toEqual({ kind: "none" });
  });

  it("says a failed result by errno name", () => {
    expect(hypercallResult(-22)).toBe("-EINVAL");
    expect(hypercallResult(-1)).toBe("-EPERM");
    expect(hypercallResult(0)).toBe(0);
    expect(hypercallResult(7)).toBe(7);
  });

  it("spans a domctl named from the cmd in guest memory, with the errno of its failure", async () => {
    const tr = new Tracer();
    tr.enabled = true;
    const mem = guestPage();
    XenDomctlHeader.encode(mem.bytes, 0x100, { ...XenDomctlHeader.zero(), cmd: 1, interface_version: 0x15 });
    expect(tracedHypercall(tr, mem, 0, 0, 36, [0x1100n], () => -22)).toBe(-22);
    // A pointer outside the guest: the name falls back to the hypercall's; an async result is spanned when it settles.
    expect(await tracedHypercall(tr, mem, 0, 0, 36, [0x9000n], () => Promise.resolve(-14))).toBe(-14);
    const t = chromeTrace(tr.snapshot());
    expect(slices(t).map((e) => [e.name, e.args])).toEqual([
      ["domctl/XEN_DOMCTL_createdomain", { result: "-EINVAL" }],
      ["domctl", { result: "-EFAULT" }],
    ]);
  });

  it("ends a block's span as the block ends, before its promise settles", async () => {
    const tr = new Tracer();
    tr.enabled = true;
    const v = new Vcpu({} as Domain, 0, { buffer: new SharedArrayBuffer(4096) } as unknown as Frame);
    let resolve = (_: number) => {};
    const block = () =>
      new Promise<number>((r) => {
        resolve = r;
        v.wake = () => {
          v.wake = undefined;
          r(0);
        };
      });
    const r = tracedHypercall(tr, guestPage(), 1, 0, 29, [1n], block, v);
    v.wake!();
    // Answered at once (the trap service does the same): the vCPU may trap again in this very turn.
    expect(slices(chromeTrace(tr.snapshot())).map((e) => e.name)).toEqual(["sched_op/SCHEDOP_block"]);
    resolve(0);
    expect(await r).toBe(0);
    expect(slices(chromeTrace(tr.snapshot()))).toHaveLength(1); // and spanned once
  });
});

describe("recording windows", () => {
  it("is on while any window is open, gives each window its own events, and forgets them at the end", () => {
    const tr = new Tracer(3);
    expect(tr.enabled).toBe(false);
    tr.span("hypercall", "ignored", 0, 0, 0);
    const a = tr.start();
    tr.span("hypercall", "one", 0, 0, tr.now());
    const b = tr.start();
    tr.span("hypercall", "two", 0, 0, tr.now());
    tr.span("hypercall", "three", 0, 0, tr.now());
    tr.span("hypercall", "four", 0, 0, tr.now()); // past the limit of 3
    const rb = tr.stop(b);
    expect(rb.events.map((e) => e.name)).toEqual(["two", "three"]);
    expect(rb.dropped).toBe(1);
    expect(tr.enabled).toBe(true);
    const ra = tr.stop(a);
    expect(ra.events.map((e) => e.name)).toEqual(["one", "two", "three"]);
    expect(traceSummary(traceCounts(ra), "f.json")).toBe(
      "trace: 3 events written to f.json (the limit of 3 events was reached: 1 more were dropped)",
    );
    expect(tr.enabled).toBe(false);
    expect(tr.stop(tr.start()).events).toEqual([]);
  });
});

/** Event channels on a fake host with dom0 and `domid`, traced by `tr`: `domid` opened `unbound`
 * for dom0, which bound it as `local`. */
function channelToDom0(tr: Tracer, domid: number) {
  const host = new FakeEvtchnHost();
  host.addDomain(0);
  host.addDomain(domid);
  const ev = new EventChannels(host, { trace: tr });
  const unbound = ev.allocUnbound(domid, false, DOMID_SELF, 0);
  const local = ev.bindInterdomain(0, domid, unbound);
  return { ev, unbound, local };
}

describe("flows between domains", () => {
  it("draws an interdomain EVTCHNOP_send from the sender's hypercall to the notify at the peer's port", () => {
    const tr = new Tracer();
    const { ev, unbound, local } = channelToDom0(tr, 1);
    expect(ev.send(1, unbound)).toBe(0); // not tracing: nothing recorded
    expect(tr.snapshot().events).toEqual([]);

    const w = tr.start();
    tr.nameDomain(0, "Domain-0");
    tr.nameDomain(1, "guest");
    const t0 = tr.now();
    tr.enterCall(1, 0);
    expect(ev.send(1, unbound)).toBe(0);
    tr.span("hypercall", "event_channel_op/EVTCHNOP_send", 1, 0, t0, { result: 0 }, tr.leaveCall());
    const t = chromeTrace(tr.stop(w));
    expect(traceProblems(t)).toEqual([]);
    const out = slices(t).find((e) => e.flow_out)!;
    const into = slices(t).find((e) => e.flow_in)!;
    expect(out).toMatchObject({
      name: "evtchn send",
      pid: 1,
      tid: 0,
      args: { port: unbound, remote_dom: 0 },
    });
    expect(into).toMatchObject({ name: "evtchn notify", pid: 0, args: { port: local, remote_dom: 1 } });
    expect(into.bind_id).toBe(out.bind_id);
    expect(t.traceEvents).toContainEqual({
      name: "process_name",
      ph: "M",
      pid: 1,
      tid: 0,
      args: { name: "guest (dom1)" },
    });
    expect(t.traceEvents).toContainEqual({
      name: "thread_name",
      ph: "M",
      pid: 0,
      tid: 0,
      args: { name: "vcpu0" },
    });
  });

  it("draws a grant map from the granter to the mapper, and a copy the way its bytes go", () => {
    const tr = new Tracer();
    const host = new FakeGnttabHost();
    for (const d of [0, 1, 2]) host.addDomain(d);
    const gt = new GrantTables(host, { trace: tr });
    gt.setupTable(1, false, DOMID_SELF, 1);
    gt.setupTable(2, false, DOMID_SELF, 1);
    const g1 = new GuestGrants(host.tableFrames.get(1)!);
    const g2 = new GuestGrants(host.tableFrames.get(2)!);
    g1.grant(5, 0, 1);
    g2.grant(6, 0, 2);
    const w = tr.start();
    tr.enterCall(0, 0);
    const map = gt.mapGrantRef(0, { hostAddr: 0x10000n, flags: GNTMAP_host_map, ref: 5, dom: 1 });
    expect(map.status).toBe(GNTST_okay);
    const copy = gt.copy(0, {
      source: { ref: 5, gmfn: 0n, domid: 1, offset: 0 },
      dest: { ref: 6, gmfn: 0n, domid: 2, offset: 0 },
      len: 16,
      flags: GNTCOPY_source_gref | GNTCOPY_dest_gref,
    });
    expect(copy).toBe(GNTST_okay);
    tr.leaveCall();
    const t = chromeTrace(tr.stop(w));
    expect(traceProblems(t)).toEqual([]);
    const pairs = new Map<unknown, { from?: Ev; to?: Ev }>();
    for (const e of slices(t)) {
      const p = pairs.get(e.bind_id) ?? {};
      p[e.flow_out ? "from" : "to"] = e;
      pairs.set(e.bind_id, p);
    }
    expect([...pairs.values()].map((p) => [p.from!.name, p.from!.pid, p.to!.name, p.to!.pid])).toEqual([
      ["grant mapped", 1, "grant map", 0],
      ["grant read", 1, "grant copy", 0],
      ["grant copy", 0, "grant written", 2],
    ]);
  });
});

describe("the SVG rendering", () => {
  it("draws a track per domain and vCPU, labelled spans, and the flow arrows", () => {
    const tr = new Tracer();
    const { ev, unbound: port } = channelToDom0(tr, 3);
    const w = tr.start();
    tr.nameDomain(3, "web");
    const t0 = tr.now();
    tr.enterCall(3, 0);
    ev.send(3, port);
    tr.span(
      "hypercall",
      "event_channel_op/EVTCHNOP_send",
      3,
      0,
      t0 - 50_000,
      { result: 0 },
      tr.leaveCall() + 50_000,
    );
    const svg = renderTraceSvg(chromeTrace(tr.stop(w)), { caption: "a test", spanMs: 0.2 });
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain("web (dom3) 3");
    expect(svg).toContain("dom0 0");
    expect(svg).toContain("vcpu0 0");
    expect(svg).toMatch(/<text [^>]*class="label">event_channel_op\/EVTCHNOP_send<\/text>/);
    expect(svg.match(/class="flow" marker-end="url\(#arrow\)"/g)).toHaveLength(1);
    expect(svg).toContain("a test");
  });
});
