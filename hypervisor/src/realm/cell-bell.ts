/**
 * A cell's end of its bell: a socket pair between the hypervisor and the cell (the cell's fd 5), so
 * that either side can wake the other's event loop with one byte (realm/wakes.ts). The supervisor
 * opens it in the domain's worker, before lockdown; the realm never sees it.
 *
 * Rule: a ring never blocks and never fails: the socket is non-blocking, and a full socket buffer
 * already holds more wake-ups than the hypervisor needs.
 */
import { writeSync } from "node:fs";
import { Socket } from "node:net";
import type { CellBell } from "./wakes.ts";

const ONE = new Uint8Array([1]);

export function openCellBell(fd: number): CellBell {
  // Readable and writable as Node opens it: a socket made read-only would shut the pair's write side.
  const socket = new Socket({ fd });
  socket.unref(); // a waiting vCPU keeps the worker alive itself (realm/trap.ts)
  let waiters: (() => void)[] = [];
  socket.on("data", () => {
    const now = waiters;
    waiters = [];
    for (const w of now) w();
  });
  return {
    ring() {
      try {
        writeSync(fd, ONE);
      } catch {
        // EAGAIN: the hypervisor has bytes enough to read
      }
    },
    next() {
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}
