/**
 * blkfront's persistent grants: a pool of our pages, each granted read-write to the backend once and
 * reused for every request after (feature-persistent), so the backend maps each page once. Data is
 * copied between a caller's buffer and these pages; the caller's memory is never granted. Freed
 * pages go on top of a stack (LIFO, as blkif.h advises) so a backend that keeps only some mappings
 * sees the same few pages again and again. The pool grows on demand up to its limit.
 */
export interface PoolPage {
  readonly pfn: number;
  readonly ref: number;
  /** The page's 4096 bytes, shared with the backend. */
  readonly bytes: Uint8Array;
}

export interface PoolPlatform {
  allocPage(): { pfn: number; view: DataView };
  /**
   * `pages` consecutive pages as one view (a run of the domain's memory), or undefined when the
   * kernel has no such stretch free. Optional: without it blkfront offers no shared buffers.
   */
  allocRun?(pages: number): { pfns: number[]; bytes: Uint8Array } | undefined;
  freePage(pfn: number): void;
  grant(domid: number, pfn: number, readonly: boolean): number;
  /** Ends a grant; false while the backend still has the page mapped. */
  endGrant(ref: number): boolean;
}

const NO_PAGES: readonly PoolPage[] = Object.freeze([]);

export class GrantPool {
  private readonly free: PoolPage[] = [];
  private made = 0;

  constructor(
    private readonly p: PoolPlatform,
    private readonly backend: number,
    readonly limit: number,
  ) {}

  /** Pages granted so far. */
  get size(): number {
    return this.made;
  }

  /**
   * `n` pages, or undefined when they are not there yet: the pool is at its limit, or the kernel has
   * no page or grant ref to grow it by while pages in use will come back. Throws when the kernel
   * has none and none will come back (the request cannot ever run).
   */
  take(n: number): readonly PoolPage[] | undefined {
    if (n === 0) return NO_PAGES; // a request on lent pages with no indirect page: most 4 KiB reads
    if (n > this.limit) throw new RangeError(`a request of ${n} pages exceeds the pool of ${this.limit}`);
    if (this.free.length + (this.limit - this.made) < n) return undefined;
    while (this.free.length < n) {
      try {
        this.free.push(this.grow());
      } catch (e) {
        if (this.made > this.free.length) return undefined; // pages in flight come back
        throw e;
      }
    }
    return this.free.splice(this.free.length - n, n).reverse();
  }

  give(pages: readonly PoolPage[]): void {
    for (let i = pages.length - 1; i >= 0; i--) this.free.push(pages[i]!);
  }

  /**
   * Ends every grant and frees the pages; call once the backend has unmapped them (it has after it
   * reached Closed). A page the backend still maps is not freed: returns those, still granted.
   */
  destroy(): { pfn: number; ref: number }[] {
    const kept: { pfn: number; ref: number }[] = [];
    for (const page of this.free.splice(0)) {
      if (this.p.endGrant(page.ref)) this.p.freePage(page.pfn);
      else kept.push(page);
    }
    this.made = 0;
    return kept;
  }

  private grow(): PoolPage {
    const { pfn, view } = this.p.allocPage();
    const bytes = new Uint8Array(view.buffer, view.byteOffset, 4096);
    bytes.fill(0); // the backend must never see what the page held before
    let ref: number;
    try {
      ref = this.p.grant(this.backend, pfn, false);
    } catch (e) {
      this.p.freePage(pfn);
      throw e;
    }
    this.made++;
    return { pfn, ref, bytes };
  }
}
