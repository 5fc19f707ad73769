/**
 * Fault isolation: a guest that throws, one that spins without ever trapping, and one that exhausts
 * its heap are each shut down alone with the reason recorded, while a healthy domain keeps running and
 * making hypercalls. domUs cannot import host modules; dom0 can.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { chromeTrace } from "@pvkit/hypervisor/trace/chrome-json";
import { boot, guest, shutdownOf } from "./helpers.ts";

let hv: Hypervisor;
afterEach(() => hv?.close());

const ticks = (hv: Hypervisor, domid: number) => (hv.consoleLog(domid).match(/tick \d+/g) ?? []).length;

describe("fault isolation", () => {
  it("crashes the thrower, the spinner and the hog alone; the healthy domain keeps ticking", async () => {
    hv = boot({ hangTimeoutMs: 1500 });
    const healthy = hv.createDomain({ name: "ticker", memoryMiB: 4, program: guest("ticker") });
    const thrower = hv.createDomain({ name: "throws", memoryMiB: 4, program: guest("throws") });
    const spinner = hv.createDomain({ name: "spins", memoryMiB: 4, program: guest("spins") });
    const hog = hv.createDomain({ name: "hogs", memoryMiB: 4, program: guest("hogs") });
    const [t, s, h] = await Promise.all([
      shutdownOf(hv, thrower.domid),
      shutdownOf(hv, spinner.domid),
      shutdownOf(hv, hog.domid),
    ]);
    expect(t.reason).toBe(3); // SHUTDOWN_crash, by the kernel after logging the error
    expect(hv.consoleLog(thrower.domid)).toContain("deliberate guest failure");
    expect(s).toMatchObject({ reason: 4 }); // SHUTDOWN_watchdog
    expect(s.why).toMatch(/busy for \d+ ms without yielding/);
    expect(h.reason).toBe(3);
    expect(h.why).toMatch(/out of memory|heap/);
    const before = ticks(hv, healthy.domid);
    await new Promise((r) => setTimeout(r, 400));
    expect(ticks(hv, healthy.domid)).toBeGreaterThan(before);
    expect(hv.domains.get(healthy.domid)!.state).toBe("running");
  }, 30_000);

  it("refuses host modules to a domU at load, and lets dom0 have them", async () => {
    hv = boot();
    const dom0 = hv.createDomain({
      name: "Domain-0",
      domid: 0,
      privileged: true,
      memoryMiB: 8,
      program: guest("uses-fs"),
    });
    expect((await shutdownOf(hv, dom0.domid)).reason).toBe(0);
    expect(hv.consoleLog(0)).toContain("uses-fs: read ok");
    const domU = hv.createDomain({ name: "domU", memoryMiB: 4, program: guest("uses-fs"), rings: false });
    expect((await shutdownOf(hv, domU.domid)).reason).toBe(3);
    expect(hv.consoleLog(domU.domid)).toMatch(
      /pvkit: a domU has no host access: test\/guests\/uses-fs\.ts:2: may not import "node:fs" \(a host module/,
    );
  }, 30_000);
});

describe("memory", () => {
  it("grows and shrinks by populate/decrease, and a returned frame comes back zeroed", async () => {
    hv = boot();
    const d = hv.createDomain({
      name: "scrub",
      memoryMiB: 4,
      maxMemMiB: 8,
      kernel: guest("scrub"),
      rings: false,
    });
    expect((await shutdownOf(hv, d.domid)).reason).toBe(0);
    const r = JSON.parse(hv.consoleLog(d.domid).trim()) as Record<string, unknown>;
    expect(r).toEqual({
      before: 1024,
      grew: 1,
      during: 1025,
      shrank: 1,
      gone: "yes",
      regrew: 1,
      zeroed: true,
      max: 2048,
    });
  }, 30_000);
});

describe("timers and tracing", () => {
  it("fires VIRQ_TIMER no earlier than the deadline, and traces every hypercall as Perfetto JSON", async () => {
    hv = boot();
    hv.trace.enabled = true;
    const d = hv.createDomain({ name: "smoke", memoryMiB: 4, program: guest("smoke") });
    await shutdownOf(hv, d.domid);
    const slept = Number(/slept (\d+) ms/.exec(hv.consoleLog(d.domid))![1]);
    expect(slept).toBeGreaterThanOrEqual(30);
    expect(slept).toBeLessThan(500);
    const trace = chromeTrace(hv.trace.snapshot()) as {
      traceEvents: { name: string; ph: string; pid: number; dur?: number; args?: { result?: number } }[];
    };
    const timers = trace.traceEvents.filter((e) => e.name === "set_timer_op");
    expect(timers.length).toBeGreaterThan(0);
    expect(timers[0]).toMatchObject({ ph: "X", pid: d.domid, args: { result: 0 } });
    expect(trace.traceEvents).toContainEqual({
      name: "process_name",
      ph: "M",
      pid: d.domid,
      tid: 0,
      args: { name: `smoke (dom${d.domid})` },
    });
    expect(trace.traceEvents.some((e) => e.name === "sched_op/SCHEDOP_block")).toBe(true);
  }, 30_000);
});
