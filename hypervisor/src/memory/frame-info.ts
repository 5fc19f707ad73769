/**
 * A frame's record in the frame table (frames.ts): who uses it, which workers hold it, and where it
 * sits in the table's lists (keyed-lists.ts).
 *
 * A domain's build and hand-over touch every one of its frames — 16384 for a 64 MiB domain — so a
 * record costs no allocation once the frame has been used before: the table keeps one record per
 * frame for good and resets it when the frame is handed out again, and a frame held by one worker
 * (nearly every frame) shares that holder's one-element `holders` array, its place in the holder's
 * list kept inline. Before, each build made three objects per frame, and V8's young-generation
 * collector copied them all while the domain lived.
 *
 * Rule: `holders` is never changed in place (it may be shared): withHolder/withoutHolder replace it.
 */
import type { Frame } from "../gnttab/host.ts";

export interface FrameInfo {
  readonly frame: Frame;
  /** The domain incarnation using it (its P2M, grant table, shared_info), or -1 once retired. */
  owner: number;
  /** Its place in its owner's list of frames, or -1. */
  ownedAt: number;
  /** Incarnations whose workers were handed the buffer and have not exited (a handful at most). */
  holders: readonly number[];
  /** Its place in the list of frames held by `holders[0]`. */
  heldAt0: number;
  /** Its places in the lists of `holders[1..]`, in that order (a frame shared with dom0, say). */
  heldAtMore: number[] | undefined;
  /** The holder that received it as its own memory, in a run it cannot drop part of (-1: none). */
  pinnedBy: number;
  /** The holder it is a sole retired frame of (sole-retired.ts: that holder may have it back), or -1. */
  soleOf: number;
}

const NO_HOLDERS: readonly number[] = Object.freeze([]);

/** A record for `frame`, in use by `owner`: a new one, or `reuse` made like new. */
export function frameInfo(frame: Frame, owner: number, reuse?: FrameInfo): FrameInfo {
  if (!reuse)
    return {
      frame,
      owner,
      ownedAt: -1,
      holders: NO_HOLDERS,
      heldAt0: -1,
      heldAtMore: undefined,
      pinnedBy: -1,
      soleOf: -1,
    };
  reuse.owner = owner;
  reuse.ownedAt = -1;
  reuse.holders = NO_HOLDERS;
  reuse.heldAt0 = -1;
  reuse.heldAtMore = undefined;
  reuse.pinnedBy = -1;
  reuse.soleOf = -1;
  return reuse;
}

/** The holders arrays of frames, and each frame's places in its holders' lists. */
export class FrameHolders {
  /** One frozen `[holder]` per live holder, shared by every frame it alone holds. */
  private readonly single = new Map<number, readonly number[]>();

  /** Adds `holder` to `info`'s holders, its place in the holder's list not yet known (-1). */
  add(info: FrameInfo, holder: number): void {
    const n = info.holders.length;
    if (n === 0) {
      info.holders = this.alone(holder);
      info.heldAt0 = -1;
    } else {
      info.holders = [...info.holders, holder];
      info.heldAtMore = [...(info.heldAtMore ?? []), -1];
    }
  }

  /** Takes `holder` out of `info`'s holders, if it is one. */
  remove(info: FrameInfo, holder: number): void {
    const i = info.holders.indexOf(holder);
    if (i < 0) return;
    if (info.holders.length === 1) {
      info.holders = NO_HOLDERS;
      info.heldAt0 = -1;
      return;
    }
    const places = [info.heldAt0, ...(info.heldAtMore ?? [])];
    const holders = info.holders.filter((_, j) => j !== i);
    places.splice(i, 1);
    info.holders = holders.length === 1 ? this.alone(holders[0]!) : holders;
    info.heldAt0 = places[0] ?? -1;
    info.heldAtMore = places.length > 1 ? places.slice(1) : undefined;
  }

  /** `info`'s place in `holder`'s list, or -1. */
  placeOf(info: FrameInfo, holder: number): number {
    const i = info.holders.indexOf(holder);
    if (i < 0) return -1;
    return i === 0 ? info.heldAt0 : info.heldAtMore![i - 1]!;
  }

  /** Records `info`'s place in `holder`'s list (if `holder` holds it). */
  setPlace(info: FrameInfo, holder: number, at: number): void {
    const i = info.holders.indexOf(holder);
    if (i === 0) info.heldAt0 = at;
    else if (i > 0) info.heldAtMore![i - 1] = at;
  }

  /**
   * `holder` is gone and no frame lists it now. (One handed to it again later gets a new array:
   * alone() makes one whenever none is kept.)
   */
  forget(holder: number): void {
    this.single.delete(holder);
  }

  private alone(holder: number): readonly number[] {
    let a = this.single.get(holder);
    if (!a) this.single.set(holder, (a = Object.freeze([holder])));
    return a;
  }
}
