/**
 * The machine's RAM: one memfd, mapped by the hypervisor's process and by every cell process that
 * runs domains, so they all see the same bytes. Machine frame `mfn` is the 4 KiB at mfn × 4096; a
 * view of one frame is a SharedArrayBuffer of just that frame, so whoever is handed a view can touch
 * that frame and no other (a view of a run of frames, those frames and no other). Pages given back are punched out of the file: the host gets the memory
 * back, and the page reads as zeros when it is used again (the scrub comes free).
 *
 * Rule: the arena is never unmapped; an mfn is checked against it before a view is made.
 */
import { shm } from "../native/shm.ts";

export const PAGE_SIZE = 4096;

export class MachineArena {
  readonly fd: number;
  readonly id: number;
  readonly bytes: number;

  /** @param pages how many 4 KiB frames the machine has (mfns 0 .. pages-1). */
  constructor(readonly pages: number) {
    this.bytes = pages * PAGE_SIZE;
    this.fd = shm().create(this.bytes);
    this.id = shm().map(this.fd, this.bytes);
  }

  private check(mfn: number): void {
    if (!Number.isInteger(mfn) || mfn < 0 || mfn >= this.pages)
      throw new RangeError(`no machine frame ${mfn}`);
  }

  /** A SharedArrayBuffer over frame `mfn` alone, or over `pages` frames from `mfn` on (a run). */
  view(mfn: number, pages = 1): SharedArrayBuffer {
    this.check(mfn);
    if (!Number.isInteger(pages) || pages < 1) throw new RangeError(`no run of ${pages} frames`);
    this.check(mfn + pages - 1);
    return shm().view(this.id, mfn * PAGE_SIZE, pages * PAGE_SIZE);
  }

  /** Gives frame `mfn`'s memory (or `pages` frames' from it on) back to the host; it reads as zeros from now on. */
  release(mfn: number, pages = 1): void {
    this.check(mfn);
    this.check(mfn + pages - 1);
    shm().release(this.id, mfn * PAGE_SIZE, pages * PAGE_SIZE);
  }
}
