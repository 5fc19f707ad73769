/**
 * The grant table, granting side (v1 entries: u16 flags, u16 domid, u32 frame). A driver grants
 * another domain access to one of its frames and later ends that access. Xen's rules: write
 * domid and frame before flags (flags make the entry live), and end access only with a cmpxchg
 * that fails while the hypervisor has the entry mapped (GTF_reading/GTF_writing set).
 */
import {
  GRANT_ENTRY_V1_SIZE,
  GTF_permit_access,
  GTF_readonly,
  GTF_reading,
  GTF_writing,
  PAGE_SIZE,
} from "./xen.ts";

/** Refs 0-7 are reserved (GNTTAB_NR_RESERVED_ENTRIES: the toolstack's console and xenstore). */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;
export const ENTRIES_PER_FRAME = PAGE_SIZE / GRANT_ENTRY_V1_SIZE;

/** A frame shared with a peer, as a driver holds it. */
export interface GrantHandle {
  ref: number;
  domid: number;
  pfn: number;
  readonly: boolean;
}

export class GrantTable {
  private readonly flags: Uint16Array[];
  private readonly views: DataView[];
  private readonly freeRefs: number[] = [];
  private readonly active = new Set<number>();

  /** @param frames the table's frames (from GNTTABOP_setup_table), as views of guest memory */
  constructor(frames: DataView[]) {
    this.views = frames;
    this.flags = frames.map((f) => new Uint16Array(f.buffer, f.byteOffset, PAGE_SIZE / 2));
    const n = frames.length * ENTRIES_PER_FRAME;
    for (let ref = n - 1; ref >= GNTTAB_NR_RESERVED_ENTRIES; ref--) this.freeRefs.push(ref);
  }

  /** Refs in use (for diagnostics). */
  get inUse(): number {
    return this.active.size;
  }

  private locate(ref: number): { view: DataView; flags: Uint16Array; off: number } {
    const frame = Math.floor(ref / ENTRIES_PER_FRAME);
    const off = (ref % ENTRIES_PER_FRAME) * GRANT_ENTRY_V1_SIZE;
    return { view: this.views[frame], flags: this.flags[frame], off };
  }

  /**
   * Grants `domid` access to frame `frame` (a gfn: our pfn). Returns the grant ref to publish in
   * xenstore or a ring. Throws when the table is full.
   */
  grantAccess(domid: number, frame: number, readonly: boolean): number {
    if (!Number.isInteger(domid) || domid < 0 || domid > 0x7fef) throw new RangeError(`bad domid ${domid}`);
    const ref = this.freeRefs.pop();
    if (ref === undefined) throw new RangeError("grant table full");
    const { view, flags, off } = this.locate(ref);
    view.setUint16(off + 2, domid, true);
    view.setUint32(off + 4, frame >>> 0, true);
    // Flags last, atomically: the seq-cst store orders the domid/frame writes before it (wmb()).
    Atomics.store(flags, off >> 1, GTF_permit_access | (readonly ? GTF_readonly : 0));
    this.active.add(ref);
    return ref;
  }

  /**
   * Ends access: atomically clear flags unless the peer still has the frame mapped. Returns false
   * (and keeps the grant) while it is in use; the caller retries later or leaks the frame rather
   * than reusing a page another domain can still write.
   */
  endAccess(ref: number): boolean {
    if (!this.active.has(ref)) throw new RangeError(`grant ref ${ref} is not active`);
    const { flags, off } = this.locate(ref);
    const i = off >> 1;
    for (let tries = 0; tries < 64; tries++) {
      const f = Atomics.load(flags, i);
      if (f & (GTF_reading | GTF_writing)) return false;
      if (Atomics.compareExchange(flags, i, f, 0) === f) {
        this.active.delete(ref);
        this.freeRefs.push(ref);
        return true;
      }
    }
    return false;
  }

  /** The current flags of an entry (tests, diagnostics). */
  entryFlags(ref: number): number {
    const { flags, off } = this.locate(ref);
    return Atomics.load(flags, off >> 1);
  }
}
