/**
 * How a vCPU's supervisor and the hypervisor wake each other — the trap's "interrupt lines".
 *
 * In the hypervisor's own process (dom0, or every domain when cells are off) it is Atomics.wait and
 * Atomics.notify on the register block and the doorbell, whose buffers the two threads share. V8's
 * Atomics do not cross processes, so a domain in a cell (a process of its own, hypervisor/src/cell)
 * uses the two things that do:
 *   - a futex on the register block's state word (the shared-memory addon), for a trap the worker
 *     waits for with its thread asleep (a synchronous hypercall);
 *   - its cell's bell, a socket pair between the hypervisor and the cell, for everything that must
 *     reach an event loop: a byte from the worker wakes the hypervisor's loop (the doorbell, when the
 *     trap service sleeps), a byte from the hypervisor wakes the worker's loop (the answer to a trap
 *     it waits for with its event loop free, SCHEDOP_block). One write, one thread woken.
 * Each side says how it sleeps in a word the other reads, so neither makes a system call for a peer
 * that is awake.
 *
 * Rule: a sleeper announces itself (wait mode / hypervisor-asleep word) before it re-checks the word
 * it sleeps on; a waker changes the word before it reads the announcement (Dekker: one of them sees
 * the other).
 */
import { PVKIT_TRAP_TRAPPED } from "@pvkit/abi/layout";
import { WAIT_MODE, WaitMode } from "./vcpu-page.ts";

/** The doorbell frame's words (Int32 indices): the counter guests ring, the hypervisor-asleep flag. */
export const DOORBELL_COUNT = 0;
export const DOORBELL_ASLEEP = 1;

export interface Wakes {
  /**
   * Tells the hypervisor a trap or a wake request waits (after the caller stored it). Returns
   * whether the trap service was asleep, so the answer will take a wake-up anyway.
   */
  ringDoorbell(): boolean;
  /** Sleeps while the register block's state is TRAPPED, at most `ms`. */
  sleep(ms: number): void;
  /** A promise that settles once the state may have left TRAPPED, or undefined if it already has. */
  waitAsync(): Promise<unknown> | undefined;
}

/**
 * The wake block's WAIT_MODE word, set as a wait begins and cleared as it ends — unless a newer wait
 * has begun since. An asynchronous wait's promise settles a task after its wake, and by then its
 * vCPU may be waiting again (a trap made while a block waited ends the block and sleeps in the same
 * turn: realm/trap.ts, interruptBlock); the old wait's clear would tell the hypervisor this vCPU
 * needs no waking, and the new wait would never end.
 */
function waitModeWord(wake: Int32Array) {
  let waits = 0;
  return {
    begin(mode: number): number {
      Atomics.store(wake, WAIT_MODE, mode);
      return ++waits;
    },
    end(wait: number): void {
      if (wait === waits) Atomics.store(wake, WAIT_MODE, WaitMode.none);
    },
  };
}

/**
 * A guest's ring that asks the doorbell's asleep word first (a cell's, and a domU's with cells off):
 * the count moves, and `ring` runs only if the service says it sleeps — no system call for a
 * service that is awake. Returns whether it slept.
 */
function ringIfAsleep(doorbell: Int32Array, ring: () => void): boolean {
  Atomics.add(doorbell, DOORBELL_COUNT, 1);
  if (Atomics.load(doorbell, DOORBELL_ASLEEP) === 0) return false;
  ring();
  return true;
}

/**
 * Same process as the hypervisor: V8's Atomics on buffers the two threads share. A domU of this
 * process (cells off) is also given `ringService`, the trap service's bell
 * (transport/service-bell.ts), which wakes a sleeping service sooner than a notify does; it says
 * whether the byte went (or the bell holds bytes enough already).
 */
export function localWakes(
  regs: Int32Array,
  wake: Int32Array,
  doorbell: Int32Array,
  ringService?: () => boolean,
): Wakes {
  const mode = waitModeWord(wake);
  // A bell that cannot be rung (closed: EBADF) leaves the notify, which the sleeping service hears
  // too: it always waits on the doorbell as well.
  const ringOrNotify =
    ringService && (() => void (ringService() || Atomics.notify(doorbell, DOORBELL_COUNT, 1)));
  return {
    ringDoorbell() {
      if (ringOrNotify) return ringIfAsleep(doorbell, ringOrNotify);
      Atomics.add(doorbell, DOORBELL_COUNT, 1);
      // dom0: always a notify, never the asleep word's say-so: every cell maps the doorbell frame,
      // so a guest that escaped its realm could hold that word at "awake" and leave dom0's traps to
      // the service's sleep backstop. A cell's guest has only the word (its notify cannot reach
      // this process) and pays that itself.
      return Atomics.notify(doorbell, DOORBELL_COUNT, 1) > 0;
    },
    sleep(ms) {
      const wait = mode.begin(WaitMode.atomics);
      Atomics.wait(regs, 0, PVKIT_TRAP_TRAPPED, ms);
      mode.end(wait);
    },
    waitAsync() {
      const wait = mode.begin(WaitMode.atomics);
      const w = Atomics.waitAsync(regs, 0, PVKIT_TRAP_TRAPPED);
      if (!w.async) {
        mode.end(wait);
        return undefined;
      }
      return w.value.finally(() => mode.end(wait));
    },
  };
}

/** The addon's call that rings the trap service's bell from a worker (transport/service-bell.ts). */
export interface ServiceBellSend {
  bellSend(id: number): number;
}

/** The futex call of the shared-memory addon that a cell's supervisor uses. */
export interface Futex {
  wait(sab: SharedArrayBuffer, byteOffset: number, expected: number, timeoutMs?: number): string;
}

/** A cell's end of its bell (realm/cell-bell.ts). */
export interface CellBell {
  /** Writes a byte to the hypervisor. */
  ring(): void;
  /** Settles at the next byte from the hypervisor (one may already be on its way: callers re-check). */
  next(): Promise<void>;
}

/** In a cell: a futex for synchronous traps, the bell for the rest. */
export function cellWakes(
  regs: Int32Array,
  wake: Int32Array,
  doorbell: Int32Array,
  futex: Futex,
  bell: CellBell,
): Wakes {
  const regsBuf = regs.buffer as SharedArrayBuffer;
  const ringBell = () => bell.ring();
  const mode = waitModeWord(wake);
  return {
    ringDoorbell: () => ringIfAsleep(doorbell, ringBell),
    sleep(ms) {
      const wait = mode.begin(WaitMode.futex);
      if (Atomics.load(regs, 0) === PVKIT_TRAP_TRAPPED)
        futex.wait(regsBuf, regs.byteOffset, PVKIT_TRAP_TRAPPED, ms);
      mode.end(wait);
    },
    waitAsync() {
      const wait = mode.begin(WaitMode.bell);
      if (Atomics.load(regs, 0) !== PVKIT_TRAP_TRAPPED) {
        mode.end(wait);
        return undefined;
      }
      return bell.next().finally(() => mode.end(wait));
    },
  };
}
