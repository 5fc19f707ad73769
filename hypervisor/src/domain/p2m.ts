/**
 * A domain's physical-to-machine map: pfn → the machine frame behind it. The builder fills pfns 0
 * to nrPages-1, populate_physmap adds any pfn the guest names, decrease_reservation takes pfns out.
 *
 * Pfns below `dense` — the largest max_pages the domain has had (cover()): every pfn a built domain
 * has, and what a balloon driver gives back and takes again — live in an array indexed by pfn; any
 * other pfn a guest names lives in a Map. A Map alone cost a 64 MiB domain's build ~2.5 ms (16384
 * inserts, hashing each and rehashing as it grew), the array a fraction of that.
 *
 * The array grows only as pfns are set, to just past the highest one, holding `undefined` where a
 * pfn has no frame: a guest that populates one pfn just below `dense` makes the hypervisor hold 8
 * bytes for each pfn under it, 0.2% of the memory it was admitted for. `dense` never shrinks: a
 * lowered max_pages must not hide pfns already in the array.
 *
 * Iteration is in pfn order over the array, then the Map's pfns in the order they came.
 */
import type { Frame } from "../gnttab/host.ts";

export class P2m {
  private readonly low: (Frame | undefined)[] = [];
  private readonly high = new Map<number, Frame>();
  private count = 0;

  /** Pfns below this are kept in the array. */
  private dense = 0;

  /** Keeps pfns below `pages` in the array from now on (a quota set; never lowered). */
  cover(pages: number): void {
    if (!Number.isSafeInteger(pages) || pages <= this.dense) return;
    // Pfns that were in the Map and now fall below the new bound move to the array.
    const moving = [...this.high].filter(([pfn]) => Number.isInteger(pfn) && pfn >= 0 && pfn < pages);
    this.dense = pages;
    for (const [pfn, frame] of moving) {
      this.high.delete(pfn);
      this.count--;
      this.set(pfn, frame);
    }
  }

  /** How many pfns have a frame. */
  get size(): number {
    return this.count;
  }

  private isLow(pfn: number): boolean {
    return Number.isInteger(pfn) && pfn >= 0 && pfn < this.dense;
  }

  get(pfn: number): Frame | undefined {
    if (!this.isLow(pfn)) return this.high.get(pfn);
    // Never read past the array's end: V8 makes such a read a slow path.
    return pfn < this.low.length ? this.low[pfn] : undefined;
  }

  has(pfn: number): boolean {
    return this.get(pfn) !== undefined;
  }

  set(pfn: number, frame: Frame): void {
    if (this.isLow(pfn)) {
      const low = this.low;
      // The array holds `undefined` where a pfn has no frame, never a hole: it stays a plain array.
      while (low.length < pfn) low.push(undefined);
      if (pfn === low.length) low.push(undefined);
      if (low[pfn] === undefined) this.count++;
      low[pfn] = frame;
    } else {
      if (!this.high.has(pfn)) this.count++;
      this.high.set(pfn, frame);
    }
  }

  /** Takes `pfn` out; false if it had no frame. */
  delete(pfn: number): boolean {
    if (this.isLow(pfn)) {
      if (this.get(pfn) === undefined) return false;
      this.low[pfn] = undefined;
    } else if (!this.high.delete(pfn)) return false;
    this.count--;
    return true;
  }

  clear(): void {
    this.low.length = 0;
    this.high.clear();
    this.count = 0;
  }

  /** Calls `fn` for every pfn with a frame, in the order of iteration (see above). */
  forEach(fn: (frame: Frame, pfn: number) => void): void {
    const low = this.low;
    for (let pfn = 0; pfn < low.length; pfn++) {
      const f = low[pfn];
      if (f !== undefined) fn(f, pfn);
    }
    this.high.forEach(fn);
  }

  *entries(): IterableIterator<[number, Frame]> {
    const low = this.low;
    for (let pfn = 0; pfn < low.length; pfn++) {
      const f = low[pfn];
      if (f !== undefined) yield [pfn, f];
    }
    yield* this.high.entries();
  }

  *values(): IterableIterator<Frame> {
    for (const [, f] of this.entries()) yield f;
  }

  [Symbol.iterator](): IterableIterator<[number, Frame]> {
    return this.entries();
  }
}
