/**
 * Memory: what a domain was handed it keeps, so the hypervisor never hands it to anyone else.
 * - A guest that keeps the buffers of frames it gave back, cycling populate/decrease, never sees a
 *   new domain's memory, holds no more distinct frames than it cycles, and cannot grow the host.
 * - A page shared by grant and then freed by its owner is never reused for anyone; a read-only grant
 *   is never a writable buffer of the granter's page.
 * - A guest hoarding ArrayBuffers is crashed at its bound, whatever road it takes, and the host's
 *   memory grows by no more than that bound.
 */
import { VIRQ_DEBUG } from "@pvkit/abi/layout";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthy, hostileGuest, reports, shutdownOf, stage, until, type Stage } from "./harness.ts";

let s: Stage;
beforeAll(async () => void (s = await stage()), 60_000);
afterAll(() => s?.close());

const MiB = 1024 * 1024;
const rss = () => process.memoryUsage().rss;
const reported = (domid: number, phase: string) =>
  until(() => reports(s.hv, domid).some((r) => r.phase === phase), `domain ${domid} to report ${phase}`);
const phase = (domid: number, p: string) => reports(s.hv, domid).find((r) => r.phase === p)!;

/** A victim with a secret on its command line (in its start_info page), booted and idle. */
async function victim(name: string): Promise<number> {
  const secret = `pvkit-secret-${Math.random().toString(36).slice(2)}`;
  const v = s.hv.createDomain({
    name,
    memoryMiB: 4,
    program: hostileGuest("../../guests/idle"),
    rings: false,
    cmdline: secret,
  });
  await until(() => s.hv.consoleLog(v.domid).includes("idle: up"), "the victim to boot");
  return v.domid;
}

describe("frames a guest gave back", () => {
  it("are reused for that guest alone: kept buffers never show another domain's memory", async () => {
    const before = rss();
    const a = s.hv.createDomain({
      name: "keep-frames",
      memoryMiB: 4,
      maxMemMiB: 8,
      kernel: hostileGuest("keep-frames"),
      rings: false,
      cmdline: "cycles=1000",
    });
    const frames0 = s.hv.frames.allocated;
    await reported(a.domid, "waiting");
    const cycled = phase(a.domid, "cycled") as { buffers: number; pages: number; short: number };
    expect(cycled).toMatchObject({ pages: 64_000, short: 0 });
    // Pages come a run of consecutive frames at a time, and a guest's own frames come back lowest
    // first (memory/sole-retired.ts): the 64 pages it gives back each cycle return as one run.
    // (Newest first, they came back one buffer a page every other cycle: ~32,500.)
    expect(cycled.buffers).toBe(1000);
    // 1000 cycles of 64 pages: the same 64 frames came back every time (the worker got buffer
    // objects spanning 64,000 pages, all over those 64 frames), and none went anywhere else.
    // Its memory, shared_info, its vCPU page, the machine doorbell, and the 64 it cycles.
    expect(s.hv.frames.exposure(a.uid)).toBe(1024 + 1 + 1 + 1 + 64);
    expect(s.hv.frames.allocated - frames0).toBeLessThanOrEqual(64);
    // The 64,000 buffer objects it keeps cost some memory of their own; the frames behind them do not
    // grow (this attack once grew the host by 586 MiB).
    expect(rss() - before).toBeLessThan(128 * MiB);
    const v = await victim("victim-1");
    s.hv.evtchn.sendVirq(a.domid, VIRQ_DEBUG);
    expect((await shutdownOf(s.hv, a.domid)).reason).toBe(0);
    expect(phase(a.domid, "scanned")).toMatchObject({ found: 0 });
    s.hv.destroyDomain(a.domid);
    s.hv.destroyDomain(v);
    await healthy(s);
  });
});

describe("a granted page", () => {
  it("freed by its owner while mapped is retired, not reused; a read-only grant is a private copy", async () => {
    const [G, M, R] = [50, 51, 52];
    const raw = (domid: number, name: string, cmdline: string) =>
      s.hv.createDomain({
        domid,
        name,
        memoryMiB: 4,
        kernel: hostileGuest("grants"),
        rings: false,
        paused: true,
        cmdline,
      });
    raw(G, "granter", `role=granter mapper=${M} reader=${R}`);
    raw(M, "mapper", `role=mapper granter=${G}`);
    raw(R, "reader", `role=reader granter=${G}`);
    s.hv.unpauseDomain(G);
    await reported(G, "granted");
    s.hv.unpauseDomain(M);
    await reported(M, "mapped");
    expect(phase(M, "mapped")).toMatchObject({ status: 0, seen: "shared with the mapper" });
    s.hv.evtchn.sendVirq(G, VIRQ_DEBUG);
    await reported(G, "freed");
    expect(phase(G, "freed")).toMatchObject({ freed: 1, again: 1 });
    const v = await victim("victim-2");
    s.hv.unpauseDomain(R);
    expect((await shutdownOf(s.hv, R)).reason).toBe(0);
    // It got the text, its kernel refused the write, and its write through the raw buffer...
    expect(phase(R, "wrote")).toMatchObject({ status: 0, seen: "original read-only text", refused: "yes" });
    s.hv.evtchn.sendVirq(G, VIRQ_DEBUG);
    expect((await shutdownOf(s.hv, G)).reason).toBe(0);
    // ...never reached the granter's page.
    expect(phase(G, "done")).toMatchObject({ ro: "original read-only text" });
    s.hv.evtchn.sendVirq(M, VIRQ_DEBUG);
    expect((await shutdownOf(s.hv, M)).reason).toBe(0);
    // The mapper still holds the page it was given, and nothing else ever appears in it.
    expect(phase(M, "scanned")).toMatchObject({
      granterPrivate: false,
      secret: false,
      still: "shared with the mapper",
    });
    for (const d of [G, M, R, v]) s.hv.destroyDomain(d);
    await healthy(s);
  });
});

describe("a guest hoarding memory outside its heap", () => {
  it.each(["ab", "sab", "typed", "slice", "encode", "from"])(
    "%s: is refused a buffer beyond its bound, then crashed at its bound; the host grows by no more",
    async (mode) => {
      const before = rss();
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rss())), 5);
      const d = s.hv.createDomain({
        name: `hoard-${mode}`,
        memoryMiB: 4,
        program: hostileGuest("hoard"),
        rings: false,
        cmdline: `mode=${mode}`,
      });
      const { reason, why } = await shutdownOf(s.hv, d.domid);
      clearInterval(sampler);
      expect(reason).toBe(3);
      // Stopped at its bound any way: the gate measured it past (the supervisor crashed it), the memory
      // watch saw the host grow while it ran on, or the gate refused the allocation that would have
      // gone past (the program died of that RangeError).
      const log = s.hv.consoleLog(d.domid);
      const refused =
        /program failed: RangeError: Array buffer allocation failed: \d+ bytes would exceed this domain's memory bound \(71303168 bytes\)/;
      if (why)
        expect(why).toMatch(
          /^out of memory: ([\d.]+ MiB of heap and ArrayBuffers, bound|the host grew by \d+ MiB while it ran without a hypercall or a pause \(bound) 68 MiB/,
        );
      else expect(log).toMatch(refused);
      expect(s.hv.consoleLog(d.domid)).toContain("a 4 GiB buffer was refused: RangeError");
      // Its bound (4 MiB + 64 MiB), its runtime, one 4 MiB step, and the heap V8 keeps committed after
      // the gate collected its garbage (V8's own limit sits far higher: see the memory watch).
      expect(peak - before).toBeLessThan(320 * MiB);
      s.hv.destroyDomain(d.domid);
      await healthy(s);
    },
  );
});
