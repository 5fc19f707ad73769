/**
 * The hypervisor's end of a cell's bell (realm/wakes.ts): a socket pair made by the shared-memory
 * addon, whose other end the cell gets as fd 5. A byte from the cell means "a guest rang the
 * doorbell while the trap service slept"; a byte to the cell wakes its worker's event loop. Both
 * ends read in C++ (native/bell.cc): through a net.Socket the read alone cost about as much as the
 * wake-up it carried.
 *
 * Rule: the bell is written through the addon's watch id, never by fd number: once closed, that
 * number is free again and may already name another file of this process — a disk image — that a
 * stray byte would change.
 */
import { closeSync } from "node:fs";
import { shm, type Shm } from "../native/shm.ts";

/**
 * A bell pair whose first end this thread watches (`onRing`): the watch's id and the other end's
 * fd, which the caller hands on. If the watch cannot be made, both fds are closed.
 */
export function watchedBellPair(addon: Shm, onRing: () => void): { watch: number; other: number } {
  const [fd, other] = addon.bellPair();
  try {
    return { watch: addon.bellWatch(fd, onRing), other };
  } catch (e) {
    closeSync(fd);
    closeSync(other);
    throw e;
  }
}

export class HostBell {
  /** The cell's end, until the cell process has it (spawned()). */
  private cellEnd: number | undefined;
  private readonly watch: number;
  private readonly addon: Shm = shm();

  /** @param onRing what a byte from the cell does (wake the trap service) */
  constructor(onRing: () => void) {
    const addon = this.addon;
    // An addon built before bells (and before mallocTrim, which CELL_OVERHEAD_MIB counts on).
    if (typeof addon.bellPair !== "function")
      throw new Error("pvkit: the native addon predates bells (native/bell.cc); run `pnpm build:native`");
    const { watch, other } = watchedBellPair(addon, onRing);
    this.watch = watch;
    this.cellEnd = other;
  }

  /** The fd to hand the cell in spawn's stdio. */
  get forCell(): number {
    if (this.cellEnd === undefined) throw new Error("the cell already has its end of the bell");
    return this.cellEnd;
  }

  /** The cell process holds its end now (or failed to start): this process's copy goes. */
  spawned(): void {
    if (this.cellEnd !== undefined) closeSync(this.cellEnd);
    this.cellEnd = undefined;
  }

  /**
   * Wakes the cell's worker's event loop. A full socket already holds wake-ups enough (EAGAIN); a
   * cell that is gone (EPIPE) is reported by its exit; a closed bell's id names nothing (EBADF).
   */
  ring(): void {
    this.addon.bellRing(this.watch);
  }

  /** The cell is gone (or never started): stop listening, and free both fds. Again: nothing. */
  close(): void {
    this.spawned();
    this.addon.bellClose(this.watch);
  }
}
