/**
 * Dozing: how a domain's activity sampler stops looking at an idle worker, so that an idle domain
 * costs its host nothing, and starts again the moment the worker has something to do.
 *
 * The CPU account, the watchdog and the memory watch all read a worker's activity (its event-loop
 * utilization, less its sleep in synchronous traps: vcpu-page.ts). For a worker in a cell only the
 * cell's own process can take that reading, so a cell used to take it every 100 ms, forever: ten
 * wake-ups a second for every idle domain. Now the sampler dozes once a window of its worker was
 * quiet — no work worth counting, no trap, no wake-up, not asleep in a synchronous trap — and the
 * worker ends the doze itself whenever something wakes it:
 *
 *   - the answer to a trap it waited for asleep (SCHEDOP_block's bell or notify, a synchronous
 *     trap's futex), and
 *   - every entry into guest code the supervisor makes (a guest timer),
 *
 * each counted in the sampler words' wake count before the doze flag is read. The sampler sets the
 * flag before it reads the count (Dekker, as realm/wakes.ts: one of them sees the other), so a worker
 * that wakes while its sampler settles down is never missed.
 *
 * What the worker cannot report is guest code that runs without passing the supervisor at all (a
 * callback the language itself schedules: an Atomics.waitAsync timeout in the realm, a
 * FinalizationRegistry cleanup). For that there is a backstop: about once a second the hypervisor
 * reads a dozing cell's worker thread's CPU time from /proc, which wakes no one, and wakes the
 * sampler if the thread ran (cell/doze-backstop.ts); where /proc does not tell, the sampler looks
 * again every DOZE_BACKSTOP_MS itself. A worker busy that way is seen by the watchdog about a second
 * later than hangTimeoutMs at most; its CPU time is never lost, since the reading is cumulative.
 *
 * A worker of the hypervisor's own process (cells off) is sampled by the hypervisor without waking
 * it; there the hypervisor's doze watch decides and sets the flag, and then reads the worker only
 * about once a second as the backstop reads a cell's thread (domain/doze-watch.ts).
 *
 * Rule: the flag and the count live in the vCPU page (vcpu-page.ts, SAMPLER_*). Only the sampler
 * sets the flag (a cell's, or the doze watch for a worker of the hypervisor's process); the worker,
 * and the backstop through the cell, only clear it.
 */
import { SAMPLER_DOZING, SAMPLER_WAKES } from "./vcpu-page.ts";

/** How often an awake worker's activity is sampled in its cell. */
export const SAMPLE_MS = 100;
/**
 * Longest a sampler dozes without a wake-up from its worker, where the hypervisor cannot watch its
 * thread from /proc (guest code the supervisor never saw).
 */
export const DOZE_BACKSTOP_MS = 1000;
/** Work in one sampling window below which the window counts as quiet (ms). */
export const QUIET_WORK_MS = 1;

/** The worker's side: something woke it (it is about to run). Ends its sampler's doze. */
export function wakeSampler(sampler: Int32Array): void {
  Atomics.add(sampler, SAMPLER_WAKES, 1);
  if (Atomics.load(sampler, SAMPLER_DOZING) !== 0) {
    Atomics.store(sampler, SAMPLER_DOZING, 0);
    Atomics.notify(sampler, SAMPLER_DOZING);
  }
}

/** What a sampler compares between two readings of a worker. */
export interface DozeReading {
  /** Work so far, ms (workerActivity's `working`). */
  working: number;
  /** The status block's checkpoint count and the sampler words' wake count. */
  checkpoints: number;
  wakes: number;
  /** Whether the worker sleeps in a synchronous trap right now. */
  sleeping: boolean;
}

/** Whether the worker did nothing between `before` and `now`, and sleeps in no trap now. */
export function quiet(before: DozeReading, now: DozeReading): boolean {
  return (
    !now.sleeping &&
    now.checkpoints === before.checkpoints &&
    now.wakes === before.wakes &&
    now.working - before.working < QUIET_WORK_MS
  );
}

/**
 * The sampler's side: after a quiet window that ended at `now`, set the doze flag unless the worker
 * woke since. Returns whether the sampler now dozes.
 */
export function settle(sampler: Int32Array, now: DozeReading): boolean {
  Atomics.store(sampler, SAMPLER_DOZING, 1);
  if (Atomics.load(sampler, SAMPLER_WAKES) === now.wakes) return true;
  Atomics.store(sampler, SAMPLER_DOZING, 0);
  return false;
}

/** Whether the worker's sampler dozes (it was idle and nothing woke it since). */
export function dozing(sampler: Int32Array): boolean {
  return Atomics.load(sampler, SAMPLER_DOZING) !== 0;
}
