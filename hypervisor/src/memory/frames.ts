/**
 * The machine frame table: every 4 KiB frame of the machine (arena.ts: one shared memfd, so cell
 * processes see it too) is handed out as a SharedArrayBuffer of that frame alone, numbered by its mfn.
 * A domain can only touch the frames it was handed, so isolation is V8's, not a convention.
 *
 * A SharedArrayBuffer handed to a worker can never be taken back: only the worker's death ends its
 * access. So the table remembers, for every frame, its *holders* — the domains (by incarnation, see
 * Domain.uid) whose workers were ever handed it — and a frame is reused only by a domain that already
 * holds it alone, or, once every holder is gone, by anyone (scrubbed first). A frame its owner stopped
 * using while others still hold it is *retired*: it stays out of the pool, counted against every
 * holder's exposure, until they die.
 *
 * A domain's own memory reaches its worker a *run* at a time: one buffer over consecutive frames
 * (machine-memory.ts). A worker that stops using one page of a run still has the buffer, and through
 * it the page, so the rule above covers runs with nothing added — every frame of a run was handed
 * over and stays held until the worker exits — but for one thing: dropHolder(), which trusts a
 * privileged worker to drop a buffer it unmaps, must not drop a frame that worker also holds as its
 * own memory. Such frames are *pinned* to that holder (handedTo's `asMemory`) until it dies.
 *
 * Rule: call handedTo() whenever a frame is handed to a worker, and holderGone() when that worker has
 * exited. A frame that goes back to the pool is punched out of the arena: the host gets its memory
 * back and the next owner finds it zeroed. Free frames are handed out lowest first (free-frames.ts),
 * so a domain's memory comes in as few runs as the free memory allows.
 */
import type { Frame } from "../gnttab/host.ts";
import { MachineArena, PAGE_SIZE } from "./arena.ts";
import { FreeFrames } from "./free-frames.ts";
import { KeyedLists } from "./keyed-lists.ts";
import { SoleRetired } from "./sole-retired.ts";
import { FrameHolders, frameInfo, type FrameInfo } from "./frame-info.ts";

export { PAGE_SIZE };

export class FrameTable {
  /** The machine's memory: frame mfn is its mfn-th page (mfn 0 is never handed out). */
  readonly arena: MachineArena;
  /** Frames out of the pool, in use or retired, by mfn (an array: a domain's build looks up thousands). */
  private readonly frames: (FrameInfo | undefined)[] = [];
  private inUse = 0;
  /** Frames scrubbed back into the pool but not yet punched out of the arena (see settle). */
  private unpunched: number[] | undefined;
  /** Free mfns below nextMfn, zeroed (punched), lowest first. */
  private readonly pool = new FreeFrames();
  /** Frames in use, by owner. */
  private readonly owned = new KeyedLists<FrameInfo>({
    get: (f) => f.ownedAt,
    set: (f, _owner, at) => (f.ownedAt = at),
  });
  /**
   * Every frame's record, with the hypervisor's view of the frame: made the first time the frame is
   * used and reused after (frame-info.ts).
   */
  private readonly infos: (FrameInfo | undefined)[] = [];
  private readonly holders = new FrameHolders();
  /** Frames each live holder holds (its exposure). */
  private readonly held = new KeyedLists<FrameInfo>({
    get: (f, holder) => this.holders.placeOf(f, holder),
    set: (f, holder, at) => this.holders.setPlace(f, holder, at),
  });
  /** Retired frames with exactly one holder, by that holder: it may have them back. */
  private readonly soleRetired = new SoleRetired((mfn, holder) => this.frames[mfn]?.soleOf === holder);
  private nextMfn = 1;
  /** Frames scrubbed and returned to the pool after their last holder died (a statistic). */
  recycled = 0;

  /** @param maxFrames the machine's memory in frames: allocation beyond it fails (-ENOMEM upstream). */
  constructor(readonly maxFrames: number) {
    this.arena = new MachineArena(maxFrames + 1);
  }

  /** Frames out of the pool (in use or retired). */
  get allocated(): number {
    return this.inUse;
  }

  get free(): number {
    return this.maxFrames - this.inUse;
  }

  /** A zeroed frame for incarnation `owner`, or undefined when the machine is out of memory. */
  alloc(owner: number): Frame | undefined {
    if (this.inUse >= this.maxFrames) return undefined;
    const mfn = this.pool.pop() ?? (this.nextMfn <= this.maxFrames ? this.nextMfn++ : undefined);
    if (mfn === undefined) return undefined;
    // A frame used before keeps its record, and with it the hypervisor's view of the frame (made once).
    const reuse = this.infos[mfn];
    const info = reuse
      ? frameInfo(reuse.frame, owner, reuse)
      : (this.infos[mfn] = frameInfo({ mfn, buffer: this.arena.view(mfn) }, owner));
    this.frames[mfn] = info;
    this.inUse++;
    this.own(info, owner);
    return info.frame;
  }

  /**
   * A retired frame that `owner` alone holds, scrubbed and in use again by it — reuse that hands
   * nobody anything new — or undefined.
   */
  reclaim(owner: number): Frame | undefined {
    const mfn = this.soleRetired.take(owner); // the lowest: a stretch given back comes back as a run
    if (mfn === undefined) return undefined;
    const info = this.frames[mfn]!;
    info.soleOf = -1;
    this.own(info, owner);
    this.arena.release(info.frame.mfn); // scrubbed: its old contents were the same domain's anyway
    return info.frame;
  }

  /**
   * Records that `holder`'s worker was given `frame` — `asMemory`: as part of its own memory (a run
   * of its P2M), which pins the frame to it until it dies. Returns true if it did not hold it before.
   */
  handedTo(frame: Frame, holder: number, asMemory = false): boolean {
    const info = this.frames[frame.mfn];
    if (info && asMemory) info.pinnedBy = holder;
    if (!info || info.holders.includes(holder)) return false;
    this.unindexSole(info);
    this.holders.add(info, holder);
    this.held.add(holder, info);
    this.indexSole(info);
    return true;
  }

  /** Whether `holder` holds `frame`. */
  holds(frame: Frame, holder: number): boolean {
    return this.frames[frame.mfn]?.holders.includes(holder) ?? false;
  }

  /** How many frames `holder`'s worker holds (its exposure: what it can read and write). */
  exposure(holder: number): number {
    return this.held.size(holder);
  }

  /**
   * The owner stopped using `frame` (decrease_reservation, a destroyed domain's memory, an unmapped
   * snapshot). With no holder it is scrubbed into the pool; otherwise it waits, retired.
   */
  retire(frame: Frame): void {
    const info = this.frames[frame.mfn];
    if (!info || info.owner === -1) return;
    this.owned.remove(info.owner, info);
    info.owner = -1;
    this.settle(info);
  }

  /** Retires every frame `owner` still uses (its domain is destroyed). */
  retireOwned(owner: number): void {
    const infos = this.owned.take(owner);
    this.punchLater(() => {
      for (const info of infos) {
        info.owner = -1;
        this.settle(info);
      }
    });
  }

  /**
   * `holder` no longer holds `frame`. Only for a trusted holder (the privileged domain dropping a
   * mapping it promises not to keep) or a worker that has exited. A frame pinned to the holder (its
   * own memory, in a run) stays held: the run's buffer still reaches it.
   */
  dropHolder(frame: Frame, holder: number): void {
    const info = this.frames[frame.mfn];
    if (!info || !info.holders.includes(holder) || info.pinnedBy === holder) return;
    this.unindexSole(info);
    this.held.remove(holder, info);
    this.holders.remove(info, holder);
    this.settle(info);
  }

  /** `holder`'s worker has exited: it holds nothing any more. */
  holderGone(holder: number): void {
    for (const mfn of this.soleRetired.drop(holder)) {
      const info = this.frames[mfn];
      if (info?.soleOf === holder) info.soleOf = -1;
    }
    const infos = this.held.take(holder);
    this.punchLater(() => {
      for (const info of infos) {
        this.holders.remove(info, holder);
        if (info.pinnedBy === holder) info.pinnedBy = -1;
        this.settle(info);
      }
    });
    this.holders.forget(holder);
  }

  /** Whether `frame` is pinned to `holder` as its own memory (for tests and assertions). */
  pinnedTo(frame: Frame, holder: number): boolean {
    return this.frames[frame.mfn]?.pinnedBy === holder;
  }

  get(mfn: number): Frame | undefined {
    return this.frames[mfn]?.frame;
  }

  /**
   * Runs `settleMany`, punching the frames it sends back to the pool out of the arena afterwards, a
   * run of consecutive frames per system call: a 64 MiB domain's death is a few calls, not 16384.
   * Nothing can allocate in between (it is one synchronous call), so no frame leaves the pool
   * unscrubbed.
   */
  private punchLater(settleMany: () => void): void {
    if (this.unpunched) return settleMany();
    this.unpunched = [];
    try {
      settleMany();
    } finally {
      const mfns = this.unpunched.sort((a, b) => a - b);
      this.unpunched = undefined;
      for (let i = 0; i < mfns.length;) {
        let n = 1;
        while (i + n < mfns.length && mfns[i + n] === mfns[i]! + n) n++;
        this.arena.release(mfns[i]!, n);
        i += n;
      }
    }
  }

  private own(info: FrameInfo, owner: number): void {
    info.owner = owner;
    this.owned.add(owner, info);
  }

  /** Puts a retired frame where it belongs now: the pool, its sole holder's for reuse, or nowhere. */
  private settle(info: FrameInfo): void {
    if (info.owner !== -1) return;
    this.unindexSole(info);
    if (info.holders.length === 0) {
      const mfn = info.frame.mfn;
      this.frames[mfn] = undefined;
      this.inUse--;
      if (this.unpunched) this.unpunched.push(mfn);
      else this.arena.release(mfn);
      this.recycled++;
      this.pool.push(mfn);
      return;
    }
    this.indexSole(info);
  }

  /** Records `info` as its holder's sole retired frame, if it is one. */
  private indexSole(info: FrameInfo): void {
    if (info.owner !== -1 || info.holders.length !== 1 || info.soleOf !== -1) return;
    info.soleOf = info.holders[0]!;
    this.soleRetired.add(info.soleOf, info.frame.mfn);
  }

  /** Before `info`'s owner or holders change: it is no sole retired frame of anyone's. */
  private unindexSole(info: FrameInfo): void {
    if (info.soleOf === -1) return;
    this.soleRetired.removed(info.soleOf);
    info.soleOf = -1;
  }
}
