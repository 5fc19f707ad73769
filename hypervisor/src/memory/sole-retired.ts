/**
 * Retired frames that exactly one holder still holds, by that holder: the frames it may have back
 * (FrameTable.reclaim). Handed back lowest first, as the pool hands out frames (free-frames.ts): a
 * domain that gives back a stretch of its memory and asks for it again gets it back as one run, on
 * consecutive frames, instead of a buffer per page (a balloon cycling 64 pages in and out 50 times
 * got 1625 buffers for 3200 pages when they came back newest first).
 *
 * A min-heap of mfns per holder, emptied lazily: a frame that stops being the holder's sole retired
 * frame (another worker was handed it, it was reclaimed, it was freed) is not looked for in the
 * heap; it stays there until popped and is skipped then — the table says (`isSole`) whether an mfn
 * is still one. A frame that becomes one again is pushed again, so a heap can hold an mfn twice:
 * once the dead entries outnumber the live ones it is rebuilt from the live ones.
 */
import { FreeFrames } from "./free-frames.ts";

interface Heap {
  mfns: FreeFrames;
  /** How many of its frames are the holder's sole retired frames now. */
  live: number;
}

export class SoleRetired {
  private readonly byHolder = new Map<number, Heap>();

  /** @param isSole whether `mfn` is `holder`'s sole retired frame now (the table's truth). */
  constructor(private readonly isSole: (mfn: number, holder: number) => boolean) {}

  /** `mfn` has just become `holder`'s sole retired frame. */
  add(holder: number, mfn: number): void {
    let h = this.byHolder.get(holder);
    if (!h) this.byHolder.set(holder, (h = { mfns: new FreeFrames(), live: 0 }));
    h.mfns.push(mfn);
    h.live++;
    if (h.mfns.size > 2 * h.live + 64) this.rebuild(holder, h);
  }

  /** One of `holder`'s sole retired frames has stopped being one (its entry dies in place). */
  removed(holder: number): void {
    const h = this.byHolder.get(holder);
    if (h) h.live--;
  }

  /** `holder`'s lowest sole retired frame, which stops being one; undefined if it has none. */
  take(holder: number): number | undefined {
    const h = this.byHolder.get(holder);
    if (!h) return undefined;
    for (let mfn = h.mfns.pop(); mfn !== undefined; mfn = h.mfns.pop()) {
      if (!this.isSole(mfn, holder)) continue;
      h.live--;
      return mfn;
    }
    return undefined;
  }

  /** Forgets `holder` (its worker is gone); returns every mfn its heap held, live or dead. */
  drop(holder: number): number[] {
    const h = this.byHolder.get(holder);
    this.byHolder.delete(holder);
    return h?.mfns.takeAll() ?? [];
  }

  private rebuild(holder: number, h: Heap): void {
    const live = new Set<number>();
    for (const mfn of h.mfns.takeAll()) if (this.isSole(mfn, holder)) live.add(mfn);
    for (const mfn of live) h.mfns.push(mfn);
    h.live = live.size;
  }
}
