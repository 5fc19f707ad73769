/**
 * The timer heap: one-shot callbacks ordered by absolute deadline (ns of system time). The kernel
 * keeps a single hypervisor timer armed at the earliest deadline; the VIRQ_TIMER handler calls
 * expire(). Callbacks run in deadline order (ties in the order added) and must not block.
 */

interface Timer {
  id: number;
  deadline: bigint;
  seq: number;
  cb: () => void;
}

export class TimerHeap {
  private heap: Timer[] = [];
  private live = new Map<number, Timer>();
  private nextId = 1;
  private seq = 0;

  get size(): number {
    return this.live.size;
  }

  /** Adds a timer; returns its id for cancel(). */
  add(deadline: bigint, cb: () => void): number {
    const t: Timer = { id: this.nextId++, deadline, seq: this.seq++, cb };
    this.live.set(t.id, t);
    this.heap.push(t);
    this.up(this.heap.length - 1);
    return t.id;
  }

  /** Cancels a timer; cancelling one that fired or never existed is a no-op. Lazy: the heap slot
   * is skipped when it surfaces. */
  cancel(id: number): boolean {
    return this.live.delete(id);
  }

  /** The earliest live deadline, or undefined when no timer is set. */
  next(): bigint | undefined {
    this.prune();
    return this.heap[0]?.deadline;
  }

  /** Runs every timer due at `now`, earliest first. Returns how many ran. */
  expire(now: bigint, onError: (e: unknown) => void = () => undefined): number {
    let ran = 0;
    for (;;) {
      this.prune();
      const top = this.heap[0];
      if (!top || top.deadline > now) return ran;
      this.pop();
      this.live.delete(top.id);
      ran++;
      try {
        top.cb();
      } catch (e) {
        onError(e);
      }
    }
  }

  private prune(): void {
    while (this.heap.length > 0 && !this.live.has(this.heap[0].id)) this.pop();
  }

  private less(a: Timer, b: Timer): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
  }

  private pop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}
