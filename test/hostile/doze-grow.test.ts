/**
 * A dozing domain's hole: guest code the language runs without passing the supervisor (here the
 * end of an Atomics.waitAsync timeout) is not heard of by its dozing sampler, and the hypervisor
 * reads a dozing worker only about once a second (hypervisor/src/domain/doze-watch.ts). The attack
 * uses that moment to grow its heap as fast as it can, without a checkpoint. With cells off the
 * host's heap is everyone's, and V8's limit 4 GiB above the bound would abort the whole host: the
 * memory watch must stop the guest long before, and the host must go on creating domains. In a cell
 * the cell's own heap limit may end it first; either way the host lives.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { boot, consoleShows, dozes, guest, shutdownOf } from "../hypervisor/helpers.ts";
import { hostileGuest } from "./harness.ts";

const MiB = 1024 * 1024;
let hv: Hypervisor;
afterEach(() => hv?.close());

describe.each([
  ["with cells off", false],
  ["in a cell", true],
])("a dozing guest that grows its heap from code the supervisor never saw run, %s", (_, cells) => {
  it("is stopped long before V8's limit, and the host goes on", async () => {
    hv = boot({ cells });
    const d = hv.createDomain({
      name: "doze-hole-grow",
      memoryMiB: 4,
      program: hostileGuest("doze-hole-grow"),
      rings: false,
      cmdline: "wait=3000",
    });
    const stopped = shutdownOf(hv, d.domid);
    await consoleShows(hv, d.domid, "idle: up", 30_000);
    await dozes(d); // before its wait ends, or the test proves nothing
    const before = process.memoryUsage.rss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
    const { reason, why } = await stopped.finally(() => clearInterval(sampler));
    expect(reason).toBe(3); // SHUTDOWN_crash
    if (cells) expect(why).toMatch(/^out of memory/);
    else {
      expect(why).toMatch(/^out of memory: the host grew by \d+ MiB while it ran without a hypercall/);
      // Its bound is 68 MiB; V8 would abort the host 4096 MiB past it.
      expect(peak - before).toBeLessThan(1024 * MiB);
    }
    const next = hv.createDomain({ name: "after", memoryMiB: 4, program: guest("idle"), rings: false });
    await consoleShows(hv, next.domid, "idle: up", 30_000);
  }, 90_000);
});
