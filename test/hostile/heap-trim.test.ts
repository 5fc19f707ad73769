/**
 * The C heap's trim (hypervisor/src/memory/heap-trim.ts) holds each arena's lock while it walks the
 * arena's free blocks, and a guest decides how many there are: a review's guest made one trim hold
 * the lock for 0.6-3.2 s. So only a cell trims, stalling no one but the guest that cut its heap; the
 * hypervisor's process, where dom0's thread and with cells off every domU's run, never trims. This
 * guest cuts the heap it shares with the hypervisor into holes and goes idle, a neighbour starts and
 * both end — every event after which a cell trims — and the hypervisor's process makes no trim.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { TRIM_AFTER_MS } from "@pvkit/hypervisor/memory/heap-trim";
import { shm } from "@pvkit/hypervisor/native/shm";
import { boot, consoleShows, dozes, guest } from "../hypervisor/helpers.ts";
import { hostileGuest, until } from "./harness.ts";

let hv: Hypervisor | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await hv?.close();
});

describe("a guest that cuts the C heap into holes, with cells off", () => {
  it("never gets the hypervisor's process to trim its heap", async () => {
    const addon = shm();
    expect(typeof addon.mallocTrim).toBe("function"); // else the test proves nothing
    const trim = vi.spyOn(addon, "mallocTrim");
    hv = boot({ cells: false });
    const d = hv.createDomain({
      name: "heap-fragment",
      memoryMiB: 4,
      program: hostileGuest("heap-fragment"),
      rings: false,
    });
    await consoleShows(hv, d.domid, "fragment: up, 2000 of 4000 blocks kept", 30_000);
    await dozes(d);
    const next = hv.createDomain({ name: "neighbour", memoryMiB: 4, program: guest("idle"), rings: false });
    await consoleShows(hv, next.domid, "idle: up", 30_000);
    expect(hv.destroyDomain(d.domid)).toBe(0);
    expect(hv.destroyDomain(next.domid)).toBe(0);
    await until(() => d.gone && next.gone, "both domains' workers to end");
    // Nothing announces a trim that does not come: give one the time a cell's would take, twice.
    await new Promise((r) => setTimeout(r, 2 * TRIM_AFTER_MS + 1000));
    expect(trim).not.toHaveBeenCalled();
  }, 90_000);
});
