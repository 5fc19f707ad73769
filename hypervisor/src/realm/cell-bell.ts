/**
 * A cell's end of its bell: a socket pair between the hypervisor and the cell (the cell's fd 5), so
 * that either side can wake the other's event loop with one byte (realm/wakes.ts). The supervisor
 * opens it in the domain's worker, before lockdown; the realm never sees it. The hypervisor's bytes
 * are read by the shared-memory addon's watch (native/bell.cc), in C++ on this worker's event
 * loop: through a net.Socket the read cost about as much as the wake-up it carried.
 *
 * Rule: a ring never blocks and never fails: the socket is non-blocking, and a full socket buffer
 * already holds more wake-ups than the hypervisor needs.
 */
import type { CellBell } from "./wakes.ts";

/** The addon's bell calls (native/shm.ts). */
export interface BellWatch {
  bellWatch(fd: number, onRing: () => void): number;
  bellRing(id: number): number;
}

export function openCellBell(fd: number, addon: BellWatch): CellBell {
  let waiters: (() => void)[] = [];
  // Unref'd: a waiting vCPU keeps the worker alive itself (realm/trap.ts).
  const id = addon.bellWatch(fd, () => {
    const now = waiters;
    waiters = [];
    for (const w of now) w();
  });
  return {
    ring() {
      addon.bellRing(id); // EAGAIN: the hypervisor has bytes enough to read
    },
    next() {
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}
