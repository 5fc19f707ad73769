/**
 * The native shared-memory addon (hypervisor/native/shm.cc), typed. It maps the machine's memory —
 * one memfd — in every process that runs domains, hands out SharedArrayBuffers over parts of it, and
 * sleeps and wakes on futexes, which Atomics.wait/notify cannot do across processes.
 *
 * Rule: build it with `pnpm install` (or `pnpm build:native`); loading it is synchronous and throws a
 * one-line error naming the command when it is missing.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

export interface Shm {
  /** An anonymous file of `bytes` (sparse) for the machine's memory: its fd. */
  create(bytes: number): number;
  /** Maps [offset, offset + bytes) of the file (default: from 0) in this process: an arena id. */
  map(fd: number, bytes: number, offset?: number): number;
  /** A SharedArrayBuffer over [offset, offset + length) of arena `id` (offset 8-aligned). */
  view(id: number, offset: number, length: number): SharedArrayBuffer;
  /** Gives pages back to the host; they read as zeros afterwards (4 KiB-aligned). */
  release(id: number, offset: number, length: number): void;
  /** FUTEX_WAIT on the 32-bit word at `byteOffset`: any process may end it with wake(). */
  wait(
    sab: SharedArrayBuffer,
    byteOffset: number,
    expected: number,
    timeoutMs?: number,
  ): "ok" | "not-equal" | "timed-out";
  /** FUTEX_WAKE: how many waiters, in any process, were woken. */
  wake(sab: SharedArrayBuffer, byteOffset: number, count: number): number;
  /** fallocate(PUNCH_HOLE | KEEP_SIZE) on any host file: the range then reads as zeros. */
  punchHole(fd: number, offset: number, length: number): void;
  /**
   * Starts giving the C heap's free pages back to the kernel, on a thread of its own
   * (memory/heap-trim.ts); false when a trim still runs or the C library is not glibc (nothing
   * to trim with). Absent from an addon built before it.
   */
  mallocTrim?(): boolean;
  /** A non-blocking, close-on-exec socket pair for a bell (native/bell.cc): its two fds. */
  bellPair(): [number, number];
  /**
   * Calls `onRing` on this thread's event loop after bytes arrive on `fd` (read and dropped, read
   * in C++: no net.Socket). Owns `fd` from now on; does not keep the loop alive. Its id.
   */
  bellWatch(fd: number, onRing: () => void): number;
  /** Stops a watch of this thread and closes its fd; false if no such watch is open. */
  bellClose(id: number): boolean;
  /**
   * One byte to the peer of a watch of this thread, never blocking or throwing: 0, or the errno
   * (EAGAIN: the peer has bytes enough; EPIPE: it is gone; EBADF: no such open watch here).
   */
  bellRing(id: number): number;
  /**
   * Makes `fd` (an end of a bellPair) a send end that any thread of this process rings through
   * bellSend; owns `fd` from now on. Its id.
   */
  bellSendEnd(fd: number): number;
  /** One byte from a send end, from any thread, never blocking or throwing: 0, or the errno. */
  bellSend(id: number): number;
  /** Closes a send end; false if no such send end is open. */
  bellSendClose(id: number): boolean;
}

/** Where the built addon is (a worker or a cell process loads it by this path). */
export const SHM_ADDON_PATH = fileURLToPath(
  new URL("../../native/build/Release/pvkit_shm.node", import.meta.url),
);

let loaded: Shm | undefined;

export function shm(): Shm {
  if (loaded) return loaded;
  if (!existsSync(SHM_ADDON_PATH))
    throw new Error(
      `pvkit: the shared-memory addon is not built (${SHM_ADDON_PATH}); run \`pnpm build:native\``,
    );
  loaded = createRequire(import.meta.url)(SHM_ADDON_PATH) as Shm;
  return loaded;
}
