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
 * forget() every domain that wakes or is gone: it holds an open file for each dozing one.
 */
import { closeSync, openSync, readSync } from "node:fs";
import type { Domain } from "../domain/domain.ts";
import { THREAD_ID } from "../realm/vcpu-page.ts";

/** How often a dozing cell's worker thread is looked at (ms). */
export const CHECK_MS = 1000;
/** CPU a dozing worker's thread may use between two looks without waking its sampler (clock ticks:
 * the runtime's own tidying takes a tick now and then; a guest that runs takes many). */
const TIDYING_TICKS = 1;

/**
 * A thread's stat file in /proc, kept open and read again from its start at every look (the kernel
 * writes it anew for each read at offset 0): a look is one system call and no string, where
 * opening, reading and closing it took ~20 µs — 2 % of a core for a thousand dozing cells.
 */
export class ThreadStat {
  private static readonly buf = Buffer.alloc(1024);
  private fd: number | undefined;

  constructor(pid: number, tid: number) {
    try {
      this.fd = openSync(`/proc/${pid}/task/${tid}/stat`, "r");
    } catch {
      this.fd = undefined;
    }
  }

  /** User + system CPU time of the thread in clock ticks, if /proc tells (fields 14 and 15). */
  ticks(): number | undefined {
    if (this.fd === undefined) return undefined;
    const buf = ThreadStat.buf;
    let n: number;
    try {
      n = readSync(this.fd, buf, 0, buf.length, 0);
    } catch {
      return undefined; // the thread is gone
    }
    // The name in parentheses may hold spaces; the fields count from after its last ")".
    let i = buf.lastIndexOf(0x29, n - 1) + 2;
    for (let field = 3; field < 14 && i > 1 && i < n; field++) i = buf.indexOf(0x20, i) + 1;
    if (i <= 1 || i >= n) return undefined;
    const end = buf.indexOf(0x20, buf.indexOf(0x20, i) + 1);
    const [utime, stime] = buf.toString("latin1", i, end).split(" ");
    return Number(utime) + Number(stime);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export class DozeBackstop {
  /** Per dozing domain: its thread's stat file, when it was last looked at, and its CPU time then. */
  private readonly looked = new Map<Domain, { stat: ThreadStat; at: number; ticks: number | undefined }>();

  /** `d`'s sampler dozes: look at its worker's thread if it is time, and wake the sampler if it ran. */
  check(d: Domain, now = performance.now()): void {
    const pid = d.worker?.pid;
    if (typeof pid !== "number") return; // a worker of this process: the hypervisor samples it itself
    const last = this.looked.get(d);
    if (last && now - last.at < CHECK_MS) return;
    if (!last) {
      // The first look of this doze: the reference.
      const stat = new ThreadStat(pid, Atomics.load(d.vcpu.statusViews.words, THREAD_ID));
      this.looked.set(d, { stat, at: now, ticks: stat.ticks() });
      return;
    }
    const ticks = last.stat.ticks();
    // It ran (or /proc does not say): the sampler looks for itself.
    if (ticks === undefined || last.ticks === undefined || ticks - last.ticks > TIDYING_TICKS) {
      this.forget(d);
      d.worker!.poke?.();
    } else Object.assign(last, { at: now, ticks });
  }

  /** `d`'s sampler is awake, or `d` is gone: the next doze starts a new reference. */
  forget(d: Domain): void {
    this.looked.get(d)?.stat.close();
    this.looked.delete(d);
  }
}
