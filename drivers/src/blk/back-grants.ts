/**
 * blkback's persistent grants (feature-persistent): the frontend keeps reusing a fixed pool of
 * granted pages, so each is mapped once, on first use, and stays mapped until the device
 * disconnects. pvkit's memory model makes this the natural fit: a page once mapped by dom0 is shared
 * with dom0 for good anyway (a SharedArrayBuffer handed over cannot be taken back), so unmapping per
 * request would buy no safety and cost a hypercall each way.
 *
 * The number kept is bounded; past the bound the least recently used page that no request in flight
 * is using is unmapped (blkif.h's advice: LRU in the backend, LIFO in the frontend).
 */

/** One mapped page of the frontend: 4096 live bytes, and how to give the mapping back. */
export interface MappedPage {
  bytes: Uint8Array;
  unmap(): void;
}

/** Maps grant `ref` of the frontend read-write; throws when the ref is not a valid grant to us. */
export type GrantMapFn = (ref: number) => MappedPage;

interface Entry {
  page: MappedPage;
  users: number;
}

export class PersistentGrants {
  private readonly entries = new Map<number, Entry>(); // insertion order = least recently used first
  mapped = 0;
  unmapped = 0;

  constructor(
    private readonly mapFn: GrantMapFn,
    readonly limit = 4096,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * The live bytes of grant `ref`, held for a request until release(ref); undefined when the
   * frontend gave a ref that is not a grant to us.
   */
  acquire(ref: number): Uint8Array | undefined {
    let e = this.entries.get(ref);
    if (e) {
      this.entries.delete(ref); // move to the most recently used end
    } else {
      let page: MappedPage;
      try {
        page = this.mapFn(ref);
      } catch {
        return undefined;
      }
      e = { page, users: 0 };
      this.mapped++;
      this.evict();
    }
    this.entries.set(ref, e);
    e.users++;
    return e.page.bytes;
  }

  release(ref: number): void {
    const e = this.entries.get(ref);
    if (e && e.users > 0) e.users--;
  }

  /** A private copy of grant `ref`'s page (indirect segment pages: read once, then checked). */
  copy(ref: number): Uint8Array | undefined {
    const bytes = this.acquire(ref);
    if (!bytes) return undefined;
    const out = bytes.slice();
    this.release(ref);
    return out;
  }

  /** Unmaps everything (disconnect). Requests still in flight must have finished. */
  clear(): void {
    for (const e of this.entries.values()) this.unmap(e);
    this.entries.clear();
  }

  private evict(): void {
    if (this.entries.size < this.limit) return;
    for (const [ref, e] of this.entries) {
      if (e.users > 0) continue;
      this.entries.delete(ref);
      this.unmap(e);
      if (this.entries.size < this.limit) return;
    }
  }

  private unmap(e: Entry): void {
    try {
      e.page.unmap();
    } catch {
      // A mapping of a domain that died is gone already.
    }
    this.unmapped++;
  }
}
