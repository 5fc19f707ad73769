/**
 * An idle domain costs its host nothing: its worker's activity sampler dozes (hypervisor/src/realm/
 * doze.ts) and the memory watch stops looking at it. Here, with cells and without: an idle guest's
 * sampler dozes, an event still reaches it and its answer comes back (ending the doze), and a guest
 * that spins once woken is still stopped by the hang watchdog — woken by an event, or by guest code
 * that runs without passing the supervisor (the backstop's case).
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { SAMPLER_WAKES } from "@pvkit/hypervisor/realm/vcpu-page";
import { boot, consoleShows, dozes, guest, kickIdleGuest, shutdownOf } from "./helpers.ts";

let hv: Hypervisor;
afterEach(() => hv?.close());

const answering = new URL("../bench/guests/idle-answer.ts", import.meta.url).href;

describe.each([
  ["in a cell", true],
  ["with cells off", false],
])("an idle domain %s", (_, cells) => {
  it("dozes, and an event still wakes it and is answered", async () => {
    hv = boot({ cells });
    const d = hv.createDomain({ name: "idle", memoryMiB: 4, program: answering, rings: false });
    await consoleShows(hv, d.domid, "idle: up", 30_000);
    await dozes(d);
    const wakes = Atomics.load(d.vcpu.pageViews.sampler, SAMPLER_WAKES);
    await kickIdleGuest(hv, d);
    await consoleShows(hv, d.domid, "answer 1", 30_000);
    expect(Atomics.load(d.vcpu.pageViews.sampler, SAMPLER_WAKES)).toBeGreaterThan(wakes);
    expect(d.state).toBe("running");
  }, 60_000);

  it("is stopped by the watchdog when it spins once woken", async () => {
    hv = boot({ cells, hangTimeoutMs: 1000 });
    const d = hv.createDomain({ name: "doze-spin", memoryMiB: 4, program: guest("doze-spin"), rings: false });
    await consoleShows(hv, d.domid, "idle: up", 30_000);
    await dozes(d);
    const stopped = shutdownOf(hv, d.domid);
    await kickIdleGuest(hv, d);
    const { reason, why } = await stopped;
    expect(hv.consoleLog(d.domid)).toContain("doze-spin: woken, spinning");
    expect(reason).toBe(4); // SHUTDOWN_watchdog
    expect(why).toMatch(/^busy for \d+ ms without yielding$/);
  }, 60_000);

  it("is stopped by the watchdog when it spins from code the supervisor never saw run", async () => {
    hv = boot({ cells, hangTimeoutMs: 1000 });
    const d = hv.createDomain({
      name: "doze-hole-spin",
      memoryMiB: 4,
      program: guest("doze-hole-spin"),
      rings: false,
      cmdline: "wait=3000",
    });
    const stopped = shutdownOf(hv, d.domid);
    await consoleShows(hv, d.domid, "idle: up", 30_000);
    await dozes(d); // before its wait ends, or the test proves nothing
    const wakes = Atomics.load(d.vcpu.pageViews.sampler, SAMPLER_WAKES);
    const { reason, why } = await stopped;
    expect(Atomics.load(d.vcpu.pageViews.sampler, SAMPLER_WAKES)).toBe(wakes); // no wake-up through the supervisor
    expect(reason).toBe(4); // SHUTDOWN_watchdog
    expect(why).toMatch(/^busy for \d+ ms without yielding$/);
  }, 60_000);
});
