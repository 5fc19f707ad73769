/**
 * How a vCPU's supervisor and the hypervisor wake each other — the trap's "interrupt lines".
 *
 * In the hypervisor's own process (dom0, or every domain when cells are off) it is Atomics.wait and
 * Atomics.notify on the register block and the doorbell, whose buffers the two threads share. V8's
 * Atomics do not cross processes, so a domain in a cell (a process of its own, hypervisor/src/cell)
 * sleeps on a futex instead — the register block's state word, woken by the hypervisor through the
 * shared-memory addon — and, when it must keep its event loop running (SCHEDOP_block), on
 * Atomics.waitAsync, which the cell's relay thread ends for the hypervisor (the hypervisor rings the
 * relay bell in the vCPU's page). Each side says how it
 * sleeps in a word the other reads, so neither makes a system call for a peer that is awake.
 *
 * Rule: a sleeper announces itself (wait mode / hypervisor-asleep word) before it re-checks the word
 * it sleeps on; a waker changes the word before it reads the announcement (Dekker: one of them sees
 * the other).
 */
import { PVKIT_TRAP_TRAPPED } from "@pvkit/abi/layout";
import { WAIT_MODE, WaitMode } from "./vcpu-page.ts";

/**
 * The doorbell frame's words (Int32 indices): the counter guests ring, the hypervisor-asleep flag,
 * and the word a guest in a cell bumps (and futex-wakes) to have the host relay wake the service.
 */
export const DOORBELL_COUNT = 0;
export const DOORBELL_ASLEEP = 1;
export const DOORBELL_RELAY = 2;

export interface Wakes {
  /** Tells the hypervisor a trap or a wake request waits (after the caller stored it). */
  ringDoorbell(): void;
  /** Sleeps while the register block's state is TRAPPED, at most `ms`. */
  sleep(ms: number): void;
  /** A promise that settles once the state has left TRAPPED, or undefined if it already has. */
  waitAsync(): Promise<unknown> | undefined;
}

/** Same process as the hypervisor: V8's Atomics on buffers the two threads share. */
export function localWakes(regs: Int32Array, doorbell: Int32Array): Wakes {
  return {
    ringDoorbell() {
      Atomics.add(doorbell, DOORBELL_COUNT, 1);
      Atomics.notify(doorbell, DOORBELL_COUNT, 1);
    },
    sleep(ms) {
      Atomics.wait(regs, 0, PVKIT_TRAP_TRAPPED, ms);
    },
    waitAsync() {
      const w = Atomics.waitAsync(regs, 0, PVKIT_TRAP_TRAPPED);
      return w.async ? w.value : undefined;
    },
  };
}

/** The futex calls of the shared-memory addon that a cell's supervisor uses. */
export interface Futex {
  wait(sab: SharedArrayBuffer, byteOffset: number, expected: number, timeoutMs?: number): string;
  wake(sab: SharedArrayBuffer, byteOffset: number, count: number): number;
}

/**
 * In a cell: futexes for what crosses to the hypervisor's process; Atomics.waitAsync, ended by the
 * cell's relay, for waiting with the event loop free.
 */
export function cellWakes(regs: Int32Array, status: Int32Array, doorbell: Int32Array, futex: Futex): Wakes {
  const regsBuf = regs.buffer as SharedArrayBuffer;
  const bellBuf = doorbell.buffer as SharedArrayBuffer;
  return {
    ringDoorbell() {
      Atomics.add(doorbell, DOORBELL_COUNT, 1);
      if (Atomics.load(doorbell, DOORBELL_ASLEEP) !== 0) {
        Atomics.add(doorbell, DOORBELL_RELAY, 1);
        futex.wake(bellBuf, doorbell.byteOffset + DOORBELL_RELAY * 4, 1);
      }
    },
    sleep(ms) {
      Atomics.store(status, WAIT_MODE, WaitMode.futex);
      if (Atomics.load(regs, 0) === PVKIT_TRAP_TRAPPED)
        futex.wait(regsBuf, regs.byteOffset, PVKIT_TRAP_TRAPPED, ms);
      Atomics.store(status, WAIT_MODE, WaitMode.none);
    },
    waitAsync() {
      Atomics.store(status, WAIT_MODE, WaitMode.relay);
      const w = Atomics.waitAsync(regs, 0, PVKIT_TRAP_TRAPPED);
      if (!w.async) {
        Atomics.store(status, WAIT_MODE, WaitMode.none);
        return undefined;
      }
      return w.value.finally(() => Atomics.store(status, WAIT_MODE, WaitMode.none));
    },
  };
}
