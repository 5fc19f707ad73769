/**
 * CPU accounting and the busy watchdog, from what a domain's worker really does rather than what its
 * vCPU claims: Node's event-loop utilization of the worker thread (time not spent idle in its event
 * loop). A guest that blocks in SCHEDOP_block and then spins on its own event loop is busy here,
 * whatever its register block says; a paused or blocked domain that does nothing accrues nothing.
 *
 * A domain busy (utilization ≥ BUSY) for longer than its limit has not given the host's CPU back for
 * that long — a hang, or a hog in a machine with no preemption across workers — and is stopped.
 * Rule: sample() every tick for every domain with a worker; it reads the worker without waking it.
 */
import type { EventLoopUtilization } from "node:perf_hooks";
import type { Worker } from "node:worker_threads";

/** Utilization at or above which a tick counts as busy. */
export const BUSY = 0.98;

export class CpuAccount {
  private last?: EventLoopUtilization;
  /** Milliseconds the worker was active (not idle in its event loop), in all. */
  activeMs = 0;
  /** How long it has been busy without a break, in ms. */
  busyMs = 0;
  /** The last tick's utilization (0..1). */
  recent = 0;

  /** Takes a sample of `worker`. Returns the busy streak in ms. */
  sample(worker: Worker): number {
    const elu = worker.performance.eventLoopUtilization();
    if (!this.last) {
      this.last = elu;
      this.activeMs = elu.active;
      return 0;
    }
    const d = worker.performance.eventLoopUtilization(elu, this.last);
    this.last = elu;
    this.activeMs += d.active;
    this.recent = d.utilization;
    const window = d.active + d.idle;
    this.busyMs = d.utilization >= BUSY ? this.busyMs + window : 0;
    return this.busyMs;
  }
}
