/**
 * The machine frame table: every 4 KiB frame of the machine is its own SharedArrayBuffer, numbered by
 * its mfn. A domain can only touch the frames it was handed, so isolation is V8's, not a convention.
 * Creating a SharedArrayBuffer costs microseconds, so a pool of zeroed frames is kept topped up off
 * the hot path; a freed frame is scrubbed before anyone else may get it.
 */
import type { Frame } from "../gnttab/host.ts";

export const PAGE_SIZE = 4096;

export class FrameTable {
  private readonly frames = new Map<number, Frame>();
  private readonly pool: Frame[] = [];
  private nextMfn = 1;
  private refilling = false;

  /**
   * @param maxFrames the machine's memory in frames: allocation beyond it fails (-ENOMEM upstream).
   * @param poolTarget how many zeroed frames to keep ready.
   */
  constructor(
    readonly maxFrames: number,
    private readonly poolTarget = 2048,
  ) {}

  get allocated(): number {
    return this.frames.size;
  }

  get free(): number {
    return this.maxFrames - this.frames.size;
  }

  private fresh(): Frame {
    return { mfn: this.nextMfn++, buffer: new SharedArrayBuffer(PAGE_SIZE) };
  }

  /** A zeroed frame, or undefined when the machine is out of memory. */
  alloc(): Frame | undefined {
    if (this.frames.size >= this.maxFrames) return undefined;
    const f = this.pool.pop() ?? this.fresh();
    this.frames.set(f.mfn, f);
    if (this.pool.length < this.poolTarget / 4) this.scheduleRefill();
    return f;
  }

  /** Returns a frame: scrubbed now (no data crosses domains), reused later. */
  release(frame: Frame): void {
    if (!this.frames.delete(frame.mfn)) return;
    new Uint8Array(frame.buffer).fill(0);
    if (this.pool.length < this.poolTarget) this.pool.push(frame);
  }

  get(mfn: number): Frame | undefined {
    return this.frames.get(mfn);
  }

  /** Fills the pool up front (at boot), so the first domains are built from it. */
  prefill(n = this.poolTarget): void {
    while (this.pool.length < n) this.pool.push(this.fresh());
  }

  private scheduleRefill(): void {
    if (this.refilling) return;
    this.refilling = true;
    setImmediate(() => {
      this.refilling = false;
      // Refill in slices so a burst never blocks trap service for long.
      for (let i = 0; i < 256 && this.pool.length < this.poolTarget; i++) this.pool.push(this.fresh());
      if (this.pool.length < this.poolTarget) this.scheduleRefill();
    }).unref();
  }
}
