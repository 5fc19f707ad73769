/**
 * The machine's memory as domains see it: admission (a domain exists only while its memory fits),
 * handing frames to a domain's worker, and the limits on what one worker may hold. Built on the frame
 * table's holder rule (frames.ts): access handed over is access kept, so every hand-over is counted
 * against the receiver's *exposure*, and frames a domain gives back are reused for it alone.
 *
 *   exposure(d) ≤ 2 × max_pages + 32  (its own memory, as much again of other domains' pages it
 *                                       maps, and its grant table — at most max_grant_frames, 32,
 *                                       hypervisor frames; the privileged domain is not limited)
 *
 * A domain's own memory reaches its worker a run of consecutive frames at a time, one buffer per run
 * (realm/memory-runs.ts): at boot (handAtBoot) and for populate_physmap (handOver's `frames`
 * entries, which the supervisor joins into runs). Each of a run's frames is recorded as handed over
 * and pinned to the domain (frames.ts): a run's buffer reaches every frame in it for as long as the
 * worker lives, whatever the domain later gives back.
 *
 * Rule: every SharedArrayBuffer of a frame that reaches a worker goes through handOver() or
 * handAtBoot(); a domain's reservation is released only when its worker is gone.
 */
import { ENOMEM } from "@pvkit/abi/layout";
import type { Domain } from "../domain/domain.ts";
import type { Frame } from "../gnttab/host.ts";
import { MailKind, type MailEntry } from "../realm/mail-ring.ts";
import { FrameTable } from "./frames.ts";

export const PAGES_PER_MIB = 256;
/** A domain's grant table is at most this many frames (GrantTables' maxFrames, Xen's default). */
export const MAX_GRANT_FRAMES = 32;

export interface MachineMemoryOptions {
  /** Machine memory in MiB. */
  memoryMiB: number;
  /** Pages reserved per domain beyond its max_pages at admission: its runtime's expected cost. */
  overheadPages: number;
}

export class MachineMemory {
  readonly frames: FrameTable;
  /** Pages promised to domains (max_pages + overhead each) whose workers may still exist. */
  private reservedPages = 0;
  private readonly reservations = new Map<number, number>();

  constructor(private readonly o: MachineMemoryOptions) {
    this.frames = new FrameTable(o.memoryMiB * PAGES_PER_MIB);
  }

  get totalPages(): number {
    return this.frames.maxFrames;
  }

  /** Pages not promised to any domain: `free_memory` of `pvkit info`. */
  get freePages(): number {
    return Math.max(0, this.totalPages - this.reservedPages);
  }

  /**
   * Admits (or resizes) incarnation `uid` with `maxPages` of memory: -ENOMEM, with nothing changed,
   * unless its memory and overhead fit in what is not yet promised.
   */
  reserve(uid: number, maxPages: number): number {
    const before = this.reservations.get(uid) ?? 0;
    const want = maxPages + this.o.overheadPages;
    if (this.reservedPages - before + want > this.totalPages) return -ENOMEM;
    this.reservedPages += want - before;
    this.reservations.set(uid, want);
    return 0;
  }

  /**
   * Admits one pooled worker (hypervisor/src/pool): a domain's runtime without the domain, so its
   * overhead alone. False, with nothing changed, unless it fits in what is not yet promised.
   */
  reserveRuntime(): boolean {
    if (this.reservedPages + this.o.overheadPages > this.totalPages) return false;
    this.reservedPages += this.o.overheadPages;
    return true;
  }

  /** A pooled worker was taken by a domain (whose reservation covers it) or ended. */
  releaseRuntime(): void {
    this.reservedPages -= this.o.overheadPages;
  }

  /** The domain's worker is gone: its frames go back (frames.ts decides where), its promise ends. */
  release(uid: number): void {
    this.frames.holderGone(uid);
    this.reservedPages -= this.reservations.get(uid) ?? 0;
    this.reservations.delete(uid);
  }

  /** Most frames `d`'s worker may hold. */
  exposureLimit(d: Domain): number {
    return d.privileged ? Number.POSITIVE_INFINITY : 2 * d.maxPages + MAX_GRANT_FRAMES;
  }

  /**
   * A zeroed frame for `d` to own: one it gave back and alone holds (reuse costs nothing), else a
   * new one if its exposure allows (`notYetHanded`: new frames of the same call not yet posted).
   * undefined: none (the caller reports ENOMEM or a short count).
   */
  frameFor(d: Domain, notYetHanded = 0): Frame | undefined {
    const reused = this.frames.reclaim(d.uid);
    if (reused) return reused;
    if (this.frames.exposure(d.uid) + notYetHanded >= this.exposureLimit(d)) return undefined;
    return this.frames.alloc(d.uid);
  }

  /** Whether handing `frame` to `d` keeps its exposure within its limit. */
  mayHand(d: Domain, frame: Frame): boolean {
    return this.frames.holds(frame, d.uid) || this.frames.exposure(d.uid) < this.exposureLimit(d);
  }

  /** How many entries a hand-over to `d` may carry now (its mail ring's free room). */
  mailRoom(d: Domain): number {
    return d.launched ? d.vcpu.mailbox.room : Number.POSITIVE_INFINITY;
  }

  /**
   * Hands `entries` to `d`'s worker through its mail ring and records which frames it now holds.
   * A domain whose worker has not started gets nothing now (it receives its P2M at start). Returns
   * false, handing over nothing, when the ring has no room for all of them.
   */
  handOver(d: Domain, entries: readonly MailEntry[]): boolean {
    if (!d.launched) return true;
    if (!d.vcpu.mailbox.put(entries)) return false;
    // Frames of its own memory reach the worker in runs (realm/memory-runs.ts): pinned to it.
    for (const e of entries)
      if (e.mfn !== 0) this.frames.handedTo(this.frames.get(e.mfn)!, d.uid, e.kind === MailKind.frames);
    d.vcpu.mail();
    return true;
  }

  /** Records the frames a starting worker receives in its boot data (the doorbell among them). */
  handAtBoot(d: Domain, doorbell: Frame): void {
    d.launched = true;
    d.p2m.forEach((f) => this.frames.handedTo(f, d.uid, true)); // in runs: pinned
    if (d.sharedInfo) this.frames.handedTo(d.sharedInfo, d.uid);
    this.frames.handedTo(d.vcpu.page, d.uid);
    this.frames.handedTo(doorbell, d.uid);
  }
}
