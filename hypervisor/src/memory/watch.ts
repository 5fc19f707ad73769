/**
 * The host memory watch: the backstop for memory a domain makes while it never passes a checkpoint
 * of its supervisor (a trap, a callback), where the allocation gate looks. A long synchronous run
 * can build strings and arrays on its heap that the gate never sees, and V8 does not stop a worker
 * that goes far past its heap limit in one allocation: it aborts the whole process (nodejs/node
 * #47224). So every domU's heap limit is set far above its bound (heapHeadroomMiB) and this watch,
 * on the hypervisor's thread, reads the RSS of every process that runs domains every 20 ms. When the host has grown by more
 * than a domain could explain while that domain ran without a checkpoint and without an idle
 * moment, the domain is stopped — long before V8's limit.
 *
 *   suspect  = a domU whose checkpoint count and event-loop idle time have not moved since a mark
 *              (the CPU sampler's, every 250 ms) for at least `minRunMs`, and that is not asleep in
 *              a synchronous trap
 *   stopped  = host RSS − RSS when its run began  >  its bound − what it last measured + slack
 *                                                    + what the workers booting meanwhile may use,
 *              and its own thread is the one touching new memory: since it was first suspected,
 *              its page faults account for at least half of what its process grew (a domain that
 *              only computes takes none), or it took FAULTS_PER_TICK in one tick. Where the kernel
 *              does not tell (no /proc), only a sole suspect is stopped.
 *
 * Growth that is someone else's is taken out first. With cells off a domain told to end (shut down
 * or destroyed) may run on: V8 ends a thread only between its own steps, and some builtins are one
 * step (filling a dictionary array of 2^26 elements took ~40 s here). What such an ending thread
 * faults in — counted from the suspect's run, or from when it was first seen ending — is its own,
 * not the suspect's: before this, a bomb destroyed mid-fill got the next domain to run stopped
 * (test/hostile/bombs.test.ts, "liar", with cells off). It is counted in page faults, not in what
 * the thread still holds: memory an ending thread faults in and frees again is taken out too, room a
 * bomb beside a churning ending thread could use. A dictionary fill frees nothing (256 MiB of faults
 * for 219 MiB of RSS, measured); cells off is for guests the host trusts not to collude.
 *
 * The share is counted over the whole suspicion, not per tick: a rate per tick is a speed, and a
 * loaded host slows the bomb's thread below any speed. Under three busy loops on two cores, a
 * guest's 40 MiB eval (560 MiB of parser memory) took fewer than 1024 faults in most 20 ms ticks
 * and went through in half the runs (test/hostile/bombs.test.ts, "parse").
 *
 * The host's RSS is everyone's, so the rule is generous on purpose: other domains booting or
 * allocating while one computes must not get the computing one stopped. An attacker has gigabytes
 * of headroom to cross before V8's limit; it crosses the watch's line first.
 *
 * Idle domains cost the watch nothing (realm/doze.ts): mark() is given only the awake domUs (a
 * worker that dozes — a whole window without work, traps or wake-ups — is left out by
 * domain/doze-watch.ts), a domU left out has no run and no RSS read, and while every domU dozes the
 * tick's timer is not armed at all. Nothing is lost by that: a worker that wakes moves its
 * checkpoint count or its idle time before the next mark, so its run would only have begun at that
 * mark anyway (its reference point is taken there), which is also when the timer is armed again.
 * Guest code that runs without passing the supervisor at all is seen up to a second later (the
 * doze watch's look); in a cell V8's own heap limit, 64 MiB above the bound, ends the cell
 * regardless, and with cells off the doze watch reads every dozing worker at once when the host's
 * RSS jumps (test/hostile/doze-grow.test.ts).
 *
 * Rule: mark() from the CPU sampler with the awake domUs, tick() from the timer mark() arms; both
 * read workers without waking them.
 */
import type { Domain } from "../domain/domain.ts";
import { readFileSync } from "node:fs";
import { PAGE_SIZE } from "./frames.ts"; // a fault maps one host page, the frames' size
import {
  CHECKPOINTS,
  MEASURED_KIB,
  SAMPLER_DOZING,
  SAMPLER_WAKES,
  SLEEPING_SINCE,
  THREAD_ID,
} from "../realm/vcpu-page.ts";

const MiB = 1024 * 1024;
/** Page faults (4 KiB each) in one tick that mark a suspect as the one growing the host at once. */
const FAULTS_PER_TICK = 1024;
/** Growth since a suspect was first seen below which its share of the faults is not judged yet. */
const SHARE_AFTER_BYTES = 8 * MiB;
/** How often tick() runs while some domU is awake (ms). */
export const TICK_MS = 20;

/** Minor page faults of OS thread `tid` of process `pid`, or undefined where /proc does not say. */
function minorFaults(pid: number | "self", tid: number): number | undefined {
  if (!tid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
  } catch {
    return undefined;
  }
}

interface Run {
  checkpoints: number;
  idleMs: number;
  /** Host RSS when this domain's current run without checkpoints began (or was first seen). */
  rss: number;
  /** When that was (performance.now), and how many workers had been started by then. */
  since: number;
  started: number;
  /** The thread's page faults and its process's RSS when it was first looked at as a suspect. */
  suspected?: { faults: number; rss: number };
  /** The thread's page faults at the last tick it was looked at. */
  faults?: number;
  /** Faults of the threads told to end in its process when the run began (see `ending`). */
  ending?: Map<Domain, number>;
  /** The same when it was first suspected: growth since then is weighed without theirs. */
  endingAtSuspicion?: Map<Domain, number>;
}

export interface WatchOptions {
  /** A domain's bound in bytes (heap + ArrayBuffers). */
  boundOf: (d: Domain) => number;
  /** Stop `d`: it ran without a checkpoint while the host grew by `grewBytes`. */
  stop: (d: Domain, grewBytes: number) => void;
  /** How many domain workers have been started so far (each may grow the host as it boots). */
  workersStarted: () => number;
  /** Resident memory of process `pid` ("self": the hypervisor's), in bytes. */
  rssOf?: (pid: number | "self") => number;
  /** Minor page faults of thread `tid` of process `pid` so far, undefined where not known. */
  faultsOf?: (pid: number | "self", tid: number) => number | undefined;
  /**
   * Domains told to end (shut down or destroyed) whose workers have not ended yet: what their
   * threads grow is theirs, not a suspect's. Asked once per mark and per tick that has a suspect;
   * their threads are read only in a process that also runs an awake domain (with cells off).
   */
  ending?: () => readonly Domain[];
  /** Growth beyond a domain's remaining bound that is tolerated (others allocate too): 64 MiB. */
  slackBytes?: number;
  /** What one worker started during a run may add to the host (32 MiB). */
  perWorkerBytes?: number;
  /** A run shorter than this is never suspect (50 ms). */
  minRunMs?: number;
}

/** Resident memory of a process, from /proc (statm's second field, in pages). */
function procRss(pid: number | "self"): number {
  if (pid === "self") return process.memoryUsage.rss();
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * 4096;
  } catch {
    return 0;
  }
}

export class MemoryWatch {
  /** The awake domUs of the last mark, each with its run: what tick() looks at, and only that. */
  private runs = new Map<Domain, Run>();
  private readonly rss: (pid: number | "self") => number;
  private readonly faultsOf: (pid: number | "self", tid: number) => number | undefined;
  private readonly slack: number;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** An ending domain's thread's faults when the watch first saw it ending. */
  private endingSeen = new WeakMap<Domain, number>();

  constructor(private readonly o: WatchOptions) {
    this.rss = o.rssOf ?? procRss;
    this.faultsOf = o.faultsOf ?? minorFaults;
    this.slack = o.slackBytes ?? 64 * MiB;
  }

  /** Whether `d`'s worker has neither passed a checkpoint nor idled since `run` was taken. */
  private stuck(d: Domain, run: Run): boolean {
    const v = d.vcpu.statusViews;
    if (Atomics.load(v.words, CHECKPOINTS) !== run.checkpoints) return false;
    if (Atomics.load(v.big, SLEEPING_SINCE) !== 0n) return false; // asleep in a trap: not running
    return d.worker!.activity()?.idle === run.idleMs;
  }

  stop(): void {
    this.stopped = true;
    this.runs.clear();
    this.arm(false);
  }

  private arm(on: boolean): void {
    if (on && !this.timer && !this.stopped) {
      this.timer = setInterval(() => this.tick(), TICK_MS);
      this.timer.unref();
    } else if (!on && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * Takes the reference point for every awake domU (`awake`: those whose workers do not doze,
   * domain/doze-watch.ts): a run continues only if it did not move since. A domU left out has no
   * run until it wakes. The tick's timer runs only while some domU is awake.
   */
  mark(awake: readonly Domain[]): void {
    const rss = new Map<number | "self", number>();
    const endingByPid = new Map<number | "self", Map<Domain, number>>();
    const ending = this.o.ending?.() ?? [];
    const all = awake;
    const before = this.runs;
    this.runs = new Map();
    // A worker still booting (no checkpoint yet) grows its process as much as one started during a
    // run: a run that begins now counts it as started meanwhile. (Twenty domains created at once
    // with cells off had one stopped while the others, started a moment before its run, booted.)
    const booting = all.filter(
      (d) =>
        d.worker && !d.gone && !d.privileged && Atomics.load(d.vcpu.statusViews.words, CHECKPOINTS) === 0,
    ).length;
    for (const d of all) {
      // One told to end (shut down, maybe still inside a builtin) has no run: what it grows is
      // taken out of everyone else's, below, and it cannot be stopped again anyway.
      if (!d.worker || d.gone || d.privileged || !d.alive) continue;
      const pid = d.worker.pid;
      if (!rss.has(pid)) rss.set(pid, this.rss(pid));
      const prev = before.get(d);
      const continues = prev !== undefined && this.stuck(d, prev);
      if (!endingByPid.has(pid)) endingByPid.set(pid, this.endingFaults(pid, all, ending));
      this.runs.set(d, {
        ending: continues ? prev.ending : endingByPid.get(pid),
        checkpoints: Atomics.load(d.vcpu.statusViews.words, CHECKPOINTS),
        idleMs: d.worker.activity()?.idle ?? 0,
        rss: continues ? prev.rss : rss.get(pid)!,
        since: continues ? prev.since : performance.now(),
        started: continues ? prev.started : this.o.workersStarted() - booting,
      });
    }
    this.arm(this.runs.size > 0);
  }

  /** Looks at the host's RSS; stops a domain whose run explains growth past its bound. */
  tick(): void {
    const rss = new Map<number | "self", number>();
    const now = performance.now();
    const started = this.o.workersStarted();
    const suspects: { d: Domain; grew: number; faulting?: boolean }[] = [];
    const endingByPid = new Map<number | "self", Map<Domain, number>>();
    let ending: readonly Domain[] | undefined;
    for (const [d, run] of this.runs) {
      if (!d.worker || d.gone || !d.alive) continue;
      const pid = d.worker.pid;
      if (!rss.has(pid)) rss.set(pid, this.rss(pid));
      let grew = rss.get(pid)! - run.rss;
      if (grew <= this.slack || now - run.since < (this.o.minRunMs ?? 50)) continue;
      const measured = Atomics.load(d.vcpu.statusViews.words, MEASURED_KIB) * 1024;
      const booting = (started - run.started) * (this.o.perWorkerBytes ?? 32 * MiB);
      const line = this.o.boundOf(d) - measured + booting + this.slack;
      if (grew <= line) continue;
      ending ??= this.o.ending?.() ?? [];
      if (!endingByPid.has(pid)) endingByPid.set(pid, this.endingFaults(pid, this.runs.keys(), ending));
      const endingFaults = endingByPid.get(pid)!;
      grew -= this.grownBy(endingFaults, run.ending);
      if (grew <= line) continue;
      if (!this.stuck(d, run)) continue;
      // Is it this thread that touches new memory? Its page faults since it was first suspected,
      // against what its process grew meanwhile (and, for a fast one, against the last tick's).
      const faults = this.faultsOf(pid, Atomics.load(d.vcpu.statusViews.words, THREAD_ID));
      if (faults === undefined) {
        suspects.push({ d, grew });
        continue;
      }
      const last = run.faults;
      run.faults = faults;
      run.suspected ??= { faults, rss: rss.get(pid)! };
      run.endingAtSuspicion ??= endingFaults;
      if (last === undefined) continue;
      const since = rss.get(pid)! - run.suspected.rss - this.grownBy(endingFaults, run.endingAtSuspicion);
      const share = since >= SHARE_AFTER_BYTES && 2 * (faults - run.suspected.faults) * PAGE_SIZE >= since;
      suspects.push({ d, grew, faulting: share || faults - last >= FAULTS_PER_TICK });
    }
    for (const s of suspects)
      if (s.faulting || (s.faulting === undefined && suspects.length === 1)) this.o.stop(s.d, s.grew);
  }

  /**
   * Page faults so far of each thread told to end that runs in process `pid`. A thread id comes from
   * the domain's own status block, so one that names a running domain's thread (`live`), or one
   * named twice, counts for none: a forged id must not hide a live thread's growth.
   */
  private endingFaults(
    pid: number | "self",
    live: Iterable<Domain>,
    ending: readonly Domain[],
  ): Map<Domain, number> {
    const out = new Map<Domain, number>();
    // Most processes have none (a cell ends at once, killed): then nothing more is read.
    if (!ending.some((z) => z.worker && !z.gone && z.worker.pid === pid)) return out;
    const taken = new Set<number>();
    for (const d of live)
      if (d.alive && !d.gone && d.worker?.pid === pid)
        taken.add(Atomics.load(d.vcpu.statusViews.words, THREAD_ID));
    const claims = new Map<number, Domain[]>();
    for (const z of ending) {
      if (!z.worker || z.gone || z.worker.pid !== pid) continue;
      const tid = Atomics.load(z.vcpu.statusViews.words, THREAD_ID);
      if (taken.has(tid)) continue;
      const list = claims.get(tid);
      if (list) list.push(z);
      else claims.set(tid, [z]);
    }
    for (const [tid, [z, ...others]] of claims) {
      if (others.length > 0) continue;
      const faults = this.faultsOf(pid, tid);
      if (faults === undefined) continue;
      if (!this.endingSeen.has(z!)) this.endingSeen.set(z!, faults);
      out.set(z!, faults);
    }
    return out;
  }

  /** Bytes the ending threads faulted in since `then` (or since each was first seen ending). */
  private grownBy(now: Map<Domain, number>, then: Map<Domain, number> | undefined): number {
    let pages = 0;
    for (const [z, faults] of now) pages += Math.max(0, faults - (then?.get(z) ?? this.endingSeen.get(z)!));
    return pages * PAGE_SIZE;
  }
}
