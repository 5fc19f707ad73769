/**
 * Two real domains (worker threads) exchange events both ways over an interdomain channel and move
 * data by grant map and by grant copy; mapping the same grant twice keeps GTF_writing set until the
 * last unmap, in either order (the lesson of XSA-224/XSA-230). Each domain in a cell (a process of
 * its own, the default), and both in the hypervisor's process (cells off).
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { boot, guest, reports, shutdownOf } from "./helpers.ts";

let hv: Hypervisor;
afterEach(() => hv?.close());

describe.each([
  ["in cells", true],
  ["in the hypervisor's process", false],
])("two domains %s", (_, cells) => {
  it("exchange events both ways and share a page by grant map and grant copy", async () => {
    hv = boot({ cells });
    const a = hv.createDomain({ name: "a", memoryMiB: 4, kernel: guest("peer"), rings: false, paused: true });
    const b = hv.createDomain({ name: "b", memoryMiB: 4, kernel: guest("peer"), rings: false, paused: true });
    const port = hv.evtchn.allocUnbound(a.domid, false, a.domid, b.domid);
    a.cmdline = `role=a peer=${b.domid} port=${port}`;
    b.cmdline = `role=b peer=${a.domid} remote=${port}`;
    // The builder wrote start_info before the command lines were known: rewrite cmd_line.
    for (const d of [a, b]) {
      const page = new Uint8Array(d.p2m.get(0)!.buffer);
      page.fill(0, 128, 128 + 1024);
      page.set(new TextEncoder().encode(d.cmdline), 128);
    }
    hv.unpauseDomain(a.domid);
    hv.unpauseDomain(b.domid);
    const [ra, rb] = await Promise.all([shutdownOf(hv, a.domid), shutdownOf(hv, b.domid)]);
    expect(ra.reason).toBe(0);
    expect(rb.reason).toBe(0);
    const A = reports(hv, a.domid);
    const B = reports(hv, b.domid);
    expect(B).toContainEqual({
      role: "b",
      round: 1,
      map1: 0,
      map2: 0,
      read: "hello from A",
      again: "hello from A",
    });
    expect(B).toContainEqual({ role: "b", copy: 0, copied: "reply from B", ack: 0 });
    // a saw b's reply in its own page with both writable mappings live (GTF_reading|GTF_writing)...
    expect(A).toContainEqual({ role: "a", round: 1, flags: 24, data: "reply from B" });
    // ...still with one mapping left, and cleared only when the last one went (XSA-224/230).
    expect(A).toContainEqual({ role: "a", round: 2, flags: 24, data: "reply from B" });
    expect(A).toContainEqual({ role: "a", round: 3, flags: 0, data: "reply from B" });
    expect(A).toContainEqual({ role: "a", round: 4, flags: 0, data: "reply from B" });
    expect(B.find((r) => r.round === 3)).toMatchObject({ unmap2: 0, ack: 0, held: { foreign: 0 } });
  }, 30_000);
});
