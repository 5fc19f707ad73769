/**
 * The free frames of the machine, lowest number first. A domain's memory reaches its worker as one
 * buffer per run of machine-contiguous frames (docs/hypervisor.md), so how frames are picked decides
 * how many buffers a domain costs: handing out the lowest free frame each time gives a domain built
 * page by page ascending, consecutive frames wherever the free memory is in one piece — what a
 * first-fit allocator by address does — instead of the last freed first (a stack would give a
 * domain built after another died its predecessor's frames backwards: one buffer per page again).
 *
 * A binary min-heap: push and pop in O(log n), no allocation beyond the array.
 */
export class FreeFrames {
  private heap: number[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(mfn: number): void {
    const h = this.heap;
    let i = h.length;
    h.push(mfn);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= mfn) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = mfn;
  }

  /** Every frame, taken out, in no order. */
  takeAll(): number[] {
    const all = this.heap;
    this.heap = [];
    return all;
  }

  /** The lowest free frame, taken out; undefined when there is none. */
  pop(): number | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length === 0) return top;
    // Sift the last element down from the root.
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && h[r]! < h[l]! ? r : l;
      if (h[child]! >= last) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = last;
    return top;
  }
}
