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
/** Maps many refs in as few hypercalls as fit; undefined for each that is not a valid grant. */
export type GrantBatchMapFn = (refs: readonly number[]) => (MappedPage | undefined)[];

interface Entry {
  page: MappedPage;
  users: number;
  /** When it was last acquired (a tick of this table): eviction takes the oldest unused. */
  used: number;
}

export class PersistentGrants {
  private readonly entries = new Map<number, Entry>();
  private tick = 0;
  mapped = 0;
  unmapped = 0;

  constructor(
    private readonly mapFn: GrantMapFn,
    readonly limit = 4096,
    private readonly mapBatchFn?: GrantBatchMapFn,
  ) {}

  /**
   * Maps, in one batch, those of `refs` not mapped yet, so that the acquire() of each that follows
   * finds it: a request's first use of 256 new pages costs a few hypercalls, not 256. Refs that do
   * not map are left for acquire() to refuse. Does nothing more than bring mappings in.
   */
  prefetch(refs: readonly number[]): void {
    if (!this.mapBatchFn) return;
    let missing: number[] | undefined;
    for (const ref of refs) if (!this.entries.has(ref)) (missing ??= []).push(ref);
    if (!missing) return;
    missing = [...new Set(missing)].slice(0, this.limit); // never more than the table keeps
    let pages: (MappedPage | undefined)[];
    try {
      pages = this.mapBatchFn(missing);
    } catch {
      return; // acquire() maps one by one, and refuses what does not map
    }
    pages.forEach((page, i) => {
      if (!page) return;
      this.evict();
      this.entries.set(missing![i]!, { page, users: 0, used: ++this.tick });
      this.mapped++;
    });
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether `ref` is mapped now. */
  has(ref: number): boolean {
    return this.entries.has(ref);
  }

  /**
   * The live bytes of grant `ref`, held for a request until release(ref); undefined when the
   * frontend gave a ref that is not a grant to us.
   */
  acquire(ref: number): Uint8Array | undefined {
    let e = this.entries.get(ref);
    if (!e) {
      let page: MappedPage;
      try {
        page = this.mapFn(ref);
      } catch {
        return undefined;
      }
      this.evict();
      e = { page, users: 0, used: 0 };
      this.entries.set(ref, e);
      this.mapped++;
    }
    // A stamp, not a move to the end of the map: a request touches up to 256 pages, and
    // eviction, which needs the order, is rare (the frontend reuses a fixed pool).
    e.used = ++this.tick;
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

  /**
   * Makes room for one more mapping: at the limit, unmaps the least recently used page that no
   * request holds. A scan of the table, paid only when a new page is mapped at the limit, which
   * costs a hypercall anyway.
   */
  private evict(): void {
    while (this.entries.size >= this.limit) {
      let oldest: [number, Entry] | undefined;
      for (const [ref, e] of this.entries)
        if (e.users === 0 && (!oldest || e.used < oldest[1].used)) oldest = [ref, e];
      if (!oldest) return; // every page is in use: go past the limit rather than fail a request
      this.entries.delete(oldest[0]);
      this.unmap(oldest[1]);
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
