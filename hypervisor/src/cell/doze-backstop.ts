/**
 * The backstop of a cell whose activity sampler dozes (realm/doze.ts), kept on the hypervisor's side
 * so the cell need not wake for it. A dozing sampler hears of every wake-up its worker passes through
 * the supervisor; what it cannot hear of is guest code the language itself schedules without the
 * supervisor (an Atomics.waitAsync timeout in the realm, a FinalizationRegistry cleanup). Such code
 * runs on the worker's thread, and the thread's CPU time is in /proc for anyone to read, without
 * waking the thread or its process. So about once a second the hypervisor reads it for each dozing
 * cell, and a thread that ran since its sampler dozed gets its sampler woken (one IPC message); the
 * sampler then sees the work, or dozes again at once if the run was the runtime's own tidying.
 *
 * A worker busy that way is so seen by the watchdog about CHECK_MS late at most; its CPU time is
 * never lost (the reading is cumulative). Where /proc does not tell, the cell's sampler keeps its own
 * timed backstop (cell/activity-sampler.ts).
 *
 * Rule: check() only for domUs whose sampler dozes; it reads, and at most pokes, never waits.
 */
import { readFileSync } from "node:fs";
import type { Domain } from "../domain/domain.ts";
import { THREAD_ID } from "../realm/vcpu-page.ts";

/** How often a dozing cell's worker thread is looked at (ms). */
export const CHECK_MS = 1000;
/** CPU a dozing worker's thread may use between two looks without waking its sampler (clock ticks:
 * the runtime's own tidying takes a tick now and then; a guest that runs takes many). */
const TIDYING_TICKS = 1;

/** User + system CPU time of OS thread `tid` of process `pid` in clock ticks, if /proc tells. */
function threadTicks(pid: number, tid: number): number | undefined {
  if (!tid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return undefined;
  }
}

export class DozeBackstop {
  /** Per dozing domain: when its thread was last looked at, and its CPU time then. */
  private readonly looked = new WeakMap<Domain, { at: number; ticks: number | undefined }>();

  /** `d`'s sampler dozes: look at its worker's thread if it is time, and wake the sampler if it ran. */
  check(d: Domain, now = performance.now()): void {
    const pid = d.worker?.pid;
    if (typeof pid !== "number") return; // a worker of this process: the hypervisor samples it itself
    const last = this.looked.get(d);
    if (last && now - last.at < CHECK_MS) return;
    const ticks = threadTicks(pid, Atomics.load(d.vcpu.statusViews.words, THREAD_ID));
    this.looked.set(d, { at: now, ticks });
    if (!last) return; // the first look of this doze: the reference
    // It ran (or /proc does not say): the sampler looks for itself.
    if (ticks === undefined || last.ticks === undefined || ticks - last.ticks > TIDYING_TICKS) {
      this.looked.delete(d);
      d.worker!.poke?.();
    }
  }

  /** `d`'s sampler is awake: the next doze starts a new reference. */
  forget(d: Domain): void {
    this.looked.delete(d);
  }
}
