/**
 * Isolation: a hostile guest tries out-of-range pfns, bad pointers, foreign domids, privileged
 * operations, forged grants and malformed registers. Each gets Xen's errno (or GNTST status); the
 * hypervisor and the victim domain are unaffected; and the hostile worker holds exactly the frames it
 * was given — never one more.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { boot, consoleShows, guest, reports, shutdownOf } from "./helpers.ts";

let hv: Hypervisor;
afterEach(() => hv?.close());

describe("a hostile guest", () => {
  it("gets an errno for every bad request and never a frame it was not given", async () => {
    hv = boot();
    const victim = hv.createDomain({ name: "victim", memoryMiB: 4, program: guest("idle") });
    await consoleShows(hv, victim.domid, "idle: up");
    const bad = hv.createDomain({
      name: "hostile",
      memoryMiB: 4,
      kernel: guest("hostile"),
      rings: false,
      paused: true,
    });
    const si = new Uint8Array(bad.p2m.get(0)!.buffer);
    si.set(new TextEncoder().encode(`victim=${victim.domid}`), 128);
    hv.unpauseDomain(bad.domid);
    expect((await shutdownOf(hv, bad.domid)).reason).toBe(0);
    const [r] = reports(hv, bad.domid);
    expect(r).toMatchObject({
      populateForeign: "EPERM",
      populateBadPointer: "EFAULT",
      populatePastQuota: 0,
      decreaseUnpopulated: 0,
      currentForeign: "EPERM",
      extentOrder: "EINVAL",
      domctlPause: "EPERM",
      domctlDestroy: "EPERM",
      sysctlPhysinfo: "EPERM",
      pvkitBuild: "EPERM",
      remoteShutdown: "EPERM",
      consoleRead: "EPERM",
      allocForeign: "EPERM",
      sendNoSuchPort: "EINVAL",
      sendHugePort: "EINVAL",
      bindForeignPort: "EINVAL",
      statusForeign: "EPERM",
      badStructPointer: -14,
      unknownHypercall: -38,
      unknownSubop: -38,
      vcpuIdOutOfRange: -22,
    });
    // GNTST_bad_gntref (-3) for a forged ref, a refusal for a ref never granted to us, GNTST_bad_domain
    // (-2) for a domain that does not exist, and no unmap of a handle we never got.
    expect(r!.mapForgedRef).toBe(-3);
    expect(r!.mapUngranted).toBeLessThan(0);
    expect(r!.mapNoDomain).toBe(-2);
    expect(r!.unmapBadHandle).toBeLessThan(0);
    // What its worker holds is exactly its P2M: no foreign or hypervisor frames.
    expect(r!.held).toEqual({ own: bad.p2m.size, foreign: 0, machine: 0 });
    // The victim is still alive and untouched.
    expect(hv.domains.get(victim.domid)!.state).toBe("running");
  }, 30_000);
});
