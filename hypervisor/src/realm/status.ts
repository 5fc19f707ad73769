/**
 * The supervisor's status block: one small SharedArrayBuffer per vCPU, written by the supervisor in
 * the domain's worker and read by the hypervisor, never handed to the guest. It carries what the
 * hypervisor cannot see from outside a worker: how long the thread slept inside synchronous traps
 * (asleep, not working), whether guest code keeps passing the supervisor's checkpoints (traps and
 * callbacks, where the memory gate looks), the memory it last measured, and its OS thread id.
 */

export const STATUS_BYTES = 32;

/** BigInt64Array index: total ns asleep in completed synchronous waits. */
export const SLEPT_NS = 0;
/** BigInt64Array index: hrtime of the current synchronous wait, or 0. */
export const SLEEPING_SINCE = 1;
/** Int32Array index: bumped at every trap and every entry into guest code. */
export const CHECKPOINTS = 4;
/** Int32Array index: heap used + ArrayBuffers at the gate's last measurement, in KiB. */
export const MEASURED_KIB = 5;
/** Int32Array index: the worker thread's OS thread id (Linux; 0 elsewhere), for its page-fault count. */
export const THREAD_ID = 6;

/** Typed views of a status block. */
export function statusViews(buf: SharedArrayBuffer): { big: BigInt64Array; words: Int32Array } {
  return { big: new BigInt64Array(buf, 0, 2), words: new Int32Array(buf) };
}
