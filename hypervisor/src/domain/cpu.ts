/**
 * CPU accounting and the busy watchdog, from what a domain's worker really does rather than what its
 * vCPU claims: Node's event-loop utilization of the worker thread (time not spent idle in its event
 * loop). A guest that blocks in SCHEDOP_block and then spins on its own event loop is busy here,
 * whatever its register block says; a paused or blocked domain that does nothing accrues nothing.
 *
 * The one exception is time the thread sleeps inside a synchronous trap (Atomics.wait in the
 * supervisor, while the hypervisor has not answered — a paused domain's pending trap): busy to the
 * event loop, idle to the machine. The supervisor records it in its status block and the worker's
 * activity() takes it off (realm/vcpu-page.ts, workerActivity).
 *
 * A domain busy (utilization ≥ BUSY) for longer than its limit has not given the host's CPU back for
 * that long — a hang, or a hog in a machine with no preemption across workers — and is stopped.
 * Rule: every tick, sample() each domain whose worker is awake (it reads the worker without waking
 * it) and rest() each one that dozes (domain/doze-watch.ts).
 */
import type { DomainWorker } from "./worker.ts";

/** Utilization at or above which a tick counts as busy. */
export const BUSY = 0.98;

export class CpuAccount {
  private last?: { working: number; idle: number };
  /** Milliseconds the worker was active (not idle in its event loop), in all. */
  activeMs = 0;
  /** How long it has been busy without a break, in ms. */
  busyMs = 0;
  /** The last tick's utilization (0..1). */
  recent = 0;

  /** Takes a sample of `worker`. Returns the busy streak in ms. */
  sample(worker: DomainWorker): number {
    const now = worker.activity();
    if (!now) return 0;
    if (!this.last) {
      this.last = now;
      this.activeMs = now.working;
      return 0;
    }
    const d = { working: now.working - this.last.working, idle: now.idle - this.last.idle };
    this.last = now;
    const window = Math.max(0, d.working) + Math.max(0, d.idle);
    const active = Math.max(0, d.working);
    this.activeMs += active;
    this.recent = window > 0 ? active / window : 0;
    this.busyMs = this.recent >= BUSY ? this.busyMs + window : 0;
    return this.busyMs;
  }

  /** The worker dozes: idle now. What it did before counts at its next sample (it is cumulative). */
  rest(): void {
    this.recent = 0;
    this.busyMs = 0;
  }
}
