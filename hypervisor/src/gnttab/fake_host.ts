/**
 * A test host for GrantTables: domains whose guest frames are real 4 KiB SharedArrayBuffers, a frame
 * allocator, and "workers" that are just maps of what each domain was handed.
 * Rule: for tests only; the real host is the core hypervisor's domain and frame tables.
 */
import { GNTST_okay } from "./consts.ts";
import type { ForeignMapping, Frame, GnttabHost } from "./host.ts";

/** An in-memory GnttabHost. */
export class FakeGnttabHost implements GnttabHost {
  private nextMfn = 0x1000;
  /** domid -> (gfn -> frame): each domain's P2M. */
  readonly p2m = new Map<number, Map<number, Frame>>();
  /** What each domain's worker holds: table frames and foreign mappings by handle. */
  readonly tableFrames = new Map<number, Frame[]>();
  readonly mapped = new Map<number, Map<number, ForeignMapping>>();
  readonly freed: Frame[] = [];
  /** Every unmapForeign(domid, mapping), in order. */
  readonly unmaps: [number, ForeignMapping][] = [];
  /** Frames left for allocFrame (Infinity: never runs out). */
  framesLeft = Infinity;
  /** What mapForeign answers (a test sets GNTST_bad_virt_addr to see the unwind). */
  mapStatus = GNTST_okay;

  private newFrame(): Frame {
    return { mfn: this.nextMfn++, buffer: new SharedArrayBuffer(4096) };
  }

  /** Adds a domain with `pages` populated guest frames (gfn 0..pages-1). */
  addDomain(domid: number, pages = 4): void {
    const m = new Map<number, Frame>();
    for (let gfn = 0; gfn < pages; gfn++) m.set(gfn, this.newFrame());
    this.p2m.set(domid, m);
  }

  /** Removes a domain (after GrantTables.destroyDomain). */
  removeDomain(domid: number): void {
    this.p2m.delete(domid);
  }

  domainExists(domid: number): boolean {
    return this.p2m.has(domid);
  }
  frameOf(domid: number, gfn: number): Frame | undefined {
    return this.p2m.get(domid)?.get(gfn);
  }
  allocFrame(_domid: number): Frame | undefined {
    if (this.framesLeft <= 0) return undefined;
    this.framesLeft--;
    return this.newFrame();
  }
  freeFrame(frame: Frame): void {
    this.freed.push(frame);
  }
  giveTableFrames(domid: number, frames: readonly Frame[]): void {
    this.tableFrames.set(domid, [...frames]);
  }
  mapForeign(domid: number, mapping: ForeignMapping): number {
    if (this.mapStatus !== GNTST_okay) return this.mapStatus;
    if (!this.mapped.has(domid)) this.mapped.set(domid, new Map());
    this.mapped.get(domid)!.set(mapping.handle, mapping);
    return GNTST_okay;
  }
  unmapForeign(domid: number, mapping: ForeignMapping): void {
    this.unmaps.push([domid, mapping]);
    this.mapped.get(domid)?.delete(mapping.handle);
  }
}
