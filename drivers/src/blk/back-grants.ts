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

  /** The most pages kept mapped (past it only when every page is in use). */
  readonly limit: number;
  private readonly mapBatchFn: GrantBatchMapFn | undefined;

  /** `mapBatch`: maps many refs in one hypercall; without it acquireAll() maps one by one. */
  constructor(
    private readonly mapFn: GrantMapFn,
    o: { limit?: number; mapBatch?: GrantBatchMapFn } = {},
  ) {
    this.limit = o.limit ?? 4096;
    this.mapBatchFn = o.mapBatch;
  }

  get size(): number {
    return this.entries.size;
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
      this.evict(1);
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

  /**
   * The live bytes of every one of `refs` (a request's segments, repeats allowed), each held until
   * release(ref) as acquire() holds it; undefined, holding nothing, when any is not a grant to us.
   * Those not mapped yet are mapped in one batch (a frontend's first use of 256 pages costs a few
   * hypercalls, not 256), after the request's other pages are held, so making room never unmaps a
   * page of the very request. A ref that does not map refuses the request, and is not tried again
   * alone; the pages of the batch that did map stay mapped, as any would.
   */
  acquireAll(refs: readonly number[]): Uint8Array[] | undefined {
    const out: Uint8Array[] = new Array<Uint8Array>(refs.length);
    const tick = ++this.tick;
    let missing: number[] | undefined;
    for (let i = 0; i < refs.length; i++) {
      const e = this.entries.get(refs[i]!);
      if (!e) {
        (missing ??= []).push(i);
        continue;
      }
      e.used = tick;
      e.users++;
      out[i] = e.page.bytes;
    }
    if (!missing) return out;
    const toMap = [...new Set(missing.map((i) => refs[i]!))];
    const pages = this.mapPages(toMap);
    const got = pages.filter((p) => p !== undefined).length;
    this.evict(got);
    pages.forEach((page, k) => {
      if (!page) return;
      this.entries.set(toMap[k]!, { page, users: 0, used: tick });
      this.mapped++;
    });
    const refused = got < toMap.length;
    for (const i of missing) {
      const e = this.entries.get(refs[i]!);
      if (!e) continue;
      e.users++;
      out[i] = e.page.bytes;
    }
    if (!refused) return out;
    for (let i = 0; i < refs.length; i++) if (out[i]) this.release(refs[i]!);
    return undefined;
  }

  /** Maps `refs` in one batch when the platform can, else one by one; undefined for each that fails. */
  private mapPages(refs: number[]): (MappedPage | undefined)[] {
    if (this.mapBatchFn) {
      try {
        return this.mapBatchFn(refs);
      } catch {
        return refs.map(() => undefined); // the batch failed as a whole: nothing is mapped
      }
    }
    return refs.map((ref) => {
      try {
        return this.mapFn(ref);
      } catch {
        return undefined;
      }
    });
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
   * Makes room for `n` more mappings: at the limit, unmaps the least recently used pages no request
   * holds — an eighth of the table more than needed, so that one sort of the table pays for many
   * maps (a frontend cycling fresh refs would otherwise cost a scan of the whole table per page).
   * Pages in use are never unmapped: the table goes past its limit rather than fail a request.
   */
  private evict(n: number): void {
    if (this.entries.size + n <= this.limit) return;
    const target = Math.max(0, this.limit - n - (this.limit >> 3));
    const idle = [...this.entries].filter(([, e]) => e.users === 0).sort((a, b) => a[1].used - b[1].used);
    for (const [ref, e] of idle) {
      if (this.entries.size <= target) return;
      this.entries.delete(ref);
      this.unmap(e);
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
