/**
 * blkfront's shared buffers: memory a program asks its disk for (`k.blk.get(name).buffer(n)`),
 * whose pages are granted to the backend once, when the buffer is made. A read into such a buffer
 * or a write from it names those pages in its segments, so blkback's host I/O goes straight between
 * the image file and the program's bytes: no copy through the grant pool (front-pool.ts), whose
 * copy is the one blkfront otherwise pays per byte.
 *
 * This is the zero-copy path Linux's blkfront takes with a bio's own pages, made persistent the way
 * pvkit's memory model makes every grant anyway: a page dom0 has mapped stays readable by dom0
 * until we die, so the grants are never ended and the pages never reused for anything else. The
 * buffer must be one view of consecutive pages (the kernel cuts it from one run of the domain's
 * memory), and the number of pages lent is bounded per disk.
 */
import type { PoolPlatform } from "./front-pool.ts";
import { PAGE_SIZE } from "./protocol.ts";

interface Shared {
  /** Byte range of the buffer in its ArrayBuffer. */
  start: number;
  end: number;
  /** The grant ref of each page, in order. */
  refs: number[];
}

export class SharedBuffers {
  private readonly byBuffer = new Map<ArrayBufferLike, Shared[]>();
  private lent = 0;

  constructor(
    private readonly p: PoolPlatform,
    readonly backend: number,
    /** The most pages all buffers of this disk may hold. */
    readonly limit: number,
  ) {}

  /** Pages lent so far. */
  get pages(): number {
    return this.lent;
  }

  /**
   * A zeroed buffer of `bytes` on pages granted to the backend, or undefined when the limit would
   * be passed or the kernel has no run of free pages that long.
   */
  make(bytes: number): Uint8Array | undefined {
    const n = Math.ceil(bytes / PAGE_SIZE);
    if (!Number.isSafeInteger(n) || n < 1 || this.lent + n > this.limit || !this.p.allocRun) return undefined;
    const run = this.p.allocRun(n);
    if (!run) return undefined;
    run.bytes.fill(0); // the backend must never see what the pages held before
    const refs: number[] = [];
    try {
      for (const pfn of run.pfns) refs.push(this.p.grant(this.backend, pfn, false));
    } catch (e) {
      for (const ref of refs) this.p.endGrant(ref);
      for (const pfn of run.pfns) this.p.freePage(pfn);
      throw e;
    }
    this.lent += n;
    const list = this.byBuffer.get(run.bytes.buffer) ?? [];
    list.push({ start: run.bytes.byteOffset, end: run.bytes.byteOffset + n * PAGE_SIZE, refs });
    this.byBuffer.set(run.bytes.buffer, list);
    return run.bytes.subarray(0, bytes);
  }

  /**
   * The grant refs of `chunk`'s pages when it starts on a page boundary inside one shared buffer
   * (so each of its pages is one granted page); undefined for any other memory.
   */
  refsOf(chunk: Uint8Array): number[] | undefined {
    const list = this.byBuffer.get(chunk.buffer);
    if (!list) return undefined;
    const at = chunk.byteOffset;
    for (const s of list) {
      if (at < s.start || at + chunk.length > s.end) continue;
      if ((at - s.start) % PAGE_SIZE !== 0) return undefined;
      const first = (at - s.start) / PAGE_SIZE;
      return s.refs.slice(first, first + Math.ceil(chunk.length / PAGE_SIZE));
    }
    return undefined;
  }
}
