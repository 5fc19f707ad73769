/**
 * blkfront's shared buffers: memory a program asks its disk for (`k.blk.get(name).buffer(n)`),
 * whose pages are granted to the backend once, when the buffer is made. A read into such a buffer
 * or a write from it names those pages in its segments, so blkback's host I/O goes straight between
 * the image file and the program's bytes: no copy through the grant pool (front-pool.ts), whose
 * copy is the one blkfront otherwise pays per byte.
 *
 * This is the zero-copy path Linux's blkfront takes with a bio's own pages, made persistent the way
 * pvkit's memory model makes every grant anyway: a page dom0 has mapped stays readable by dom0
 * until we die, so the grants are never ended and the pages are never used but for this disk's
 * buffers (release() hands a buffer's pages to the next make()). A buffer must be one view of
 * consecutive pages (the kernel cuts it from one run of the domain's memory), and the number of
 * pages lent is bounded per disk.
 */
import type { PoolPlatform } from "./front-pool.ts";
import { PAGE_SIZE } from "./protocol.ts";

interface Shared {
  /** The run's buffer and the byte range of this buffer in it. */
  buffer: ArrayBufferLike;
  start: number;
  end: number;
  /** The grant ref of each page, in order. */
  refs: number[];
}

export class SharedBuffers {
  /** Buffers lent and not released, by the buffer they are views of (refsOf's lookup). */
  private readonly byBuffer = new Map<ArrayBufferLike, Shared[]>();
  /** Stretches released, granted still, for the next make() to reuse. */
  private readonly released: Shared[] = [];
  private lent = 0;

  constructor(
    private readonly p: PoolPlatform,
    readonly backend: number,
    /** The most pages all buffers of this disk may hold, released ones included. */
    readonly limit: number,
  ) {}

  /** Pages granted for buffers so far (lent or released). */
  get pages(): number {
    return this.lent;
  }

  /**
   * A zeroed buffer of `bytes` on pages granted to the backend: a released stretch long enough, or
   * pages new from the kernel. Undefined when neither is there (the limit, or no run that long).
   */
  make(bytes: number): Uint8Array | undefined {
    const n = Math.ceil(bytes / PAGE_SIZE);
    if (!Number.isSafeInteger(n) || n < 1) return undefined;
    const s = this.reuse(n) ?? this.grantNew(n);
    if (!s) return undefined;
    const view = new Uint8Array(s.buffer, s.start, n * PAGE_SIZE);
    view.fill(0); // a buffer starts zeroed, whatever it held before
    const list = this.byBuffer.get(s.buffer) ?? [];
    list.push(s);
    this.byBuffer.set(s.buffer, list);
    return view.subarray(0, bytes);
  }

  /**
   * Gives a buffer back for a later make() to reuse. Its pages stay granted (dom0 may keep them
   * mapped) and are never put to any other use; I/O on the old view after this is copied through
   * the pool, as for any memory. False when `buf` is not a buffer of these (as make() returned it).
   */
  release(buf: Uint8Array): boolean {
    const list = this.byBuffer.get(buf.buffer);
    const i = list?.findIndex((s) => s.start === buf.byteOffset) ?? -1;
    if (i < 0) return false;
    let s = list!.splice(i, 1)[0]!;
    if (list!.length === 0) this.byBuffer.delete(buf.buffer);
    // Joined with released neighbours in the same run, so released pages make long buffers again.
    for (;;) {
      const k = this.released.findIndex(
        (r) => r.buffer === s.buffer && (r.end === s.start || r.start === s.end),
      );
      if (k < 0) break;
      const r = this.released.splice(k, 1)[0]!;
      s =
        r.end === s.start
          ? { buffer: s.buffer, start: r.start, end: s.end, refs: [...r.refs, ...s.refs] }
          : { buffer: s.buffer, start: s.start, end: r.end, refs: [...s.refs, ...r.refs] };
    }
    this.released.push(s);
    return true;
  }

  /**
   * The grant refs of `chunk`'s pages when it starts on a page boundary inside one lent buffer
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

  /** The first `n` pages of the first released stretch that has them (the rest stays released). */
  private reuse(n: number): Shared | undefined {
    const i = this.released.findIndex((s) => s.refs.length >= n);
    if (i < 0) return undefined;
    const s = this.released[i]!;
    const cut = s.start + n * PAGE_SIZE;
    if (s.refs.length === n) this.released.splice(i, 1);
    else this.released[i] = { buffer: s.buffer, start: cut, end: s.end, refs: s.refs.slice(n) };
    return { buffer: s.buffer, start: s.start, end: cut, refs: s.refs.slice(0, n) };
  }

  /** `n` pages new from the kernel, each granted to the backend; undefined past the limit. */
  private grantNew(n: number): Shared | undefined {
    if (this.lent + n > this.limit || !this.p.allocRun) return undefined;
    const run = this.p.allocRun(n);
    if (!run) return undefined;
    run.bytes.fill(0); // the backend must never see what the pages held before
    const refs: number[] = [];
    try {
      for (const pfn of run.pfns) refs.push(this.p.grant(this.backend, pfn, false));
    } catch {
      // The grant table is full: no shared buffer, and the caller falls back to an ordinary one.
      for (const ref of refs) this.p.endGrant(ref);
      for (const pfn of run.pfns) this.p.freePage(pfn);
      return undefined;
    }
    this.lent += n;
    const start = run.bytes.byteOffset;
    return { buffer: run.bytes.buffer, start, end: start + n * PAGE_SIZE, refs };
  }
}
