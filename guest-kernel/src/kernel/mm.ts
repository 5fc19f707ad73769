/**
 * The page allocator: hands out the domain's pseudo-physical frames (pfns) one page at a time.
 * It starts with the frames populated at boot (start_info.nr_pages), populates more on demand
 * with XENMEM_populate_physmap up to the domain's quota, and gives free frames back with
 * XENMEM_decrease_reservation (the balloon). A caller must free() only pfns it got from alloc().
 */
import type { XenOps } from "./hypervisor.ts";

/** Thrown when no frame is free and the hypervisor will not populate another (quota reached). */
export class OutOfMemory extends Error {
  readonly errno = 12; // ENOMEM
  constructor(detail: string) {
    super(`out of memory: ${detail}`);
    this.name = "OutOfMemory";
  }
}

export interface MemStats {
  /** Frames the domain holds now (populated). */
  total: number;
  free: number;
  used: number;
  /** The most frames this allocator will try to hold. */
  max: number;
}

/** Frames populated per populate_physmap call when the free list runs dry. */
const GROW_BATCH = 16;

export class PageAllocator {
  /** Free pfns handed out before the untouched boot ones: freed pages and populated ones, on top. */
  private readonly freeList: number[] = [];
  private readonly inUse = new Set<number>();
  /** pfns that were never populated or were given back: reused before growing past `top`. */
  private readonly holes: number[] = [];
  /**
   * The boot frames not yet handed out: pfns `fresh` .. populated-1 less the reserved ones, lowest
   * first. Kept as a range, not a list: a 64 MiB domain boots without a push per page.
   */
  private fresh = 0;
  private freshLeft: number;
  private readonly populated: number;
  private readonly reserved: Set<number>;
  private top: number;
  private held: number;

  /**
   * @param populated frames the domain booted with (pfns 0 .. populated-1)
   * @param max the quota: the most frames to hold
   * @param reserved pfns the boot layout already uses (start_info, rings, shared_info...)
   */
  constructor(
    populated: number,
    public max: number,
    reserved: Iterable<number>,
    private readonly ops: Pick<XenOps, "populatePhysmap" | "decreaseReservation">,
  ) {
    this.reserved = new Set(reserved);
    this.populated = populated;
    this.top = populated;
    this.held = populated;
    for (const pfn of this.reserved) if (pfn >= 0 && pfn < populated) this.inUse.add(pfn);
    this.freshLeft = populated - this.inUse.size;
  }

  /** The lowest boot frame not yet handed out, taken; undefined when none is left. */
  private takeFresh(): number | undefined {
    if (this.freshLeft === 0) return undefined;
    while (this.reserved.has(this.fresh)) this.fresh++;
    this.freshLeft--;
    return this.fresh++;
  }

  stats(): MemStats {
    const free = this.freeList.length + this.freshLeft;
    return { total: this.held, free, used: this.inUse.size, max: this.max };
  }

  /** One free pfn, populating more frames first if none is free. Throws OutOfMemory. */
  alloc(): number {
    let pfn = this.freeList.pop() ?? this.takeFresh();
    if (pfn === undefined) {
      if (this.grow(GROW_BATCH) === 0)
        throw new OutOfMemory(`${this.held} of ${this.max} pages held, none free`);
      pfn = this.freeList.pop()!;
    }
    this.inUse.add(pfn);
    return pfn;
  }

  /**
   * `n` consecutive pfns: the next `n` boot frames never handed out, or undefined when they are
   * fewer or a reserved pfn lies among them (no search further on: boot reserves only the lowest). For buffers whose pages must be one view
   * (blkfront's shared buffers); each pfn is freed on its own, as if from alloc().
   */
  allocRange(n: number): number | undefined {
    while (this.freshLeft > 0 && this.reserved.has(this.fresh)) this.fresh++;
    const first = this.fresh;
    if (!Number.isSafeInteger(n) || n < 1 || this.freshLeft < n || first + n > this.populated)
      return undefined;
    for (let pfn = first; pfn < first + n; pfn++) if (this.reserved.has(pfn)) return undefined;
    for (let pfn = first; pfn < first + n; pfn++) this.inUse.add(pfn);
    this.fresh += n;
    this.freshLeft -= n;
    return first;
  }

  /** Returns a page. Freeing a pfn not allocated is refused (a double free would corrupt the list). */
  free(pfn: number): void {
    if (!this.inUse.delete(pfn)) throw new RangeError(`free of pfn ${pfn} that is not allocated`);
    this.freeList.push(pfn);
  }

  /**
   * Populates up to `n` more frames (never past `max`). Returns how many the hypervisor gave:
   * fewer when the domain's quota on the hypervisor side is lower than ours.
   */
  grow(n: number): number {
    const want = Math.min(n, this.max - this.held);
    if (want <= 0) return 0;
    const pfns: number[] = [];
    while (pfns.length < want) pfns.push(this.holes.length > 0 ? this.holes.pop()! : this.top++);
    let got = 0;
    try {
      got = this.ops.populatePhysmap(pfns);
    } catch {
      got = 0;
    }
    // The hypervisor populates a prefix of the list; the rest stay holes.
    for (let i = pfns.length - 1; i >= got; i--) this.holes.push(pfns[i]);
    for (let i = got - 1; i >= 0; i--) this.freeList.push(pfns[i]);
    this.held += got;
    return got;
  }

  /** Gives up to `n` free frames back to the hypervisor. Returns how many it took. */
  shrink(n: number): number {
    const pfns = this.freeList.splice(Math.max(0, this.freeList.length - n));
    for (let pfn = pfns.length < n ? this.takeFresh() : undefined; pfn !== undefined;) {
      pfns.push(pfn);
      pfn = pfns.length < n ? this.takeFresh() : undefined;
    }
    if (pfns.length === 0) return 0;
    let done = 0;
    try {
      done = this.ops.decreaseReservation(pfns);
    } catch {
      done = 0;
    }
    // Frames the hypervisor did not take are still ours and still free.
    for (let i = done; i < pfns.length; i++) this.freeList.push(pfns[i]);
    for (let i = 0; i < done; i++) this.holes.push(pfns[i]);
    this.held -= done;
    return done;
  }
}
