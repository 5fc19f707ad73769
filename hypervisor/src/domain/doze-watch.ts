/**
 * Which domUs are awake: the hypervisor's tick (CPU account, watchdog, memory watch) reads only
 * those, so a thousand idle domains cost it about what none do (realm/doze.ts says what dozing is).
 *
 * A domU found dozing is not looked at again for CHECK_MS (about a second): until then the tick
 * only finds its next look in a map, without touching its vCPU page, its worker or its cell. A
 * dozing domU that wakes is therefore seen up to a second later, by its cell's flag or by a reading
 * of its worker. Nothing is lost by the wait: the CPU account is cumulative, the watchdog's limit
 * (10 s) absorbs the second, and memory has its own faster look (below). Looking every tick cost
 * ~1 µs a domain, four times a second: ~0.4 % of a core for a thousand idle domains.
 *
 * A worker in a cell has a sampler in its cell that decides for itself, and the cell's backstop
 * (cell/doze-backstop.ts) looks at a dozing one's thread about once a second. A worker of this
 * process is decided here, from two readings of it: a quiet window since the last one sets its doze
 * flag. A dozing worker of this process is then left alone as a cell's is — every wake it passes
 * through the supervisor clears the flag itself — and read again only about once a second
 * (CHECK_MS), for guest code that runs without passing the supervisor (an Atomics.waitAsync timeout
 * in the realm, a FinalizationRegistry cleanup): the same second of lateness as in a cell, which
 * the watchdog's limit (10 s) absorbs. Reading every dozing worker at every tick used to cost the
 * host ~7 µs a domain, 4 times a second: 3 % of a core for a thousand idle domains.
 *
 * Memory cannot wait that second with cells off: such code could grow the host's one heap to V8's
 * limit and abort the host before the memory watch (memory/watch.ts) ever saw it run. So each tick
 * also reads the host process's RSS, and when it grew by more than LOOK_ALL_BYTES since the last
 * tick, every dozing worker of this process is read at once, as all were before: the memory watch
 * then has the runaway's run from this tick on, as it did.
 *
 * Rule: tick() once per tick, then dozes() once per domU; what it does not call awake it does not
 * read.
 */
import { CHECK_MS, DozeBackstop } from "../cell/doze-backstop.ts";
import { dozing, quiet, settle, type DozeReading } from "../realm/doze.ts";
import { CHECKPOINTS, SAMPLER_DOZING, SAMPLER_WAKES, SLEEPING_SINCE } from "../realm/vcpu-page.ts";
import type { Domain } from "./domain.ts";

/** What a worker of this process did so far, for deciding whether it dozes. */
function reading(d: Domain): DozeReading {
  const v = d.vcpu.statusViews;
  return {
    working: d.worker!.activity()?.working ?? 0,
    checkpoints: Atomics.load(v.words, CHECKPOINTS),
    wakes: Atomics.load(d.vcpu.pageViews.sampler, SAMPLER_WAKES),
    sleeping: Atomics.load(v.big, SLEEPING_SINCE) !== 0n,
  };
}

/** Growth of the host's RSS in one tick past which every dozing worker of this process is read. */
export const LOOK_ALL_BYTES = 32 * 1024 * 1024;

export class DozeWatch {
  /** The host process's RSS at the last tick, and whether it grew past LOOK_ALL_BYTES since. */
  private rss = 0;
  private lookAll = true;

  /** The last reading of each worker of this process. */
  private readonly readings = new WeakMap<Domain, DozeReading>();
  /** When each domU last found dozing is to be looked at again (performance.now()). */
  private readonly nextLook = new Map<Domain, number>();
  /** Looks after dozing cells for guest code their samplers cannot hear of. */
  private readonly backstop = new DozeBackstop();

  /** A tick begins: has the host grown enough that its own dozing workers must all be read? */
  tick(rss = process.memoryUsage.rss()): void {
    this.lookAll = rss - this.rss > LOOK_ALL_BYTES;
    this.rss = rss;
  }

  /** `d`'s worker is gone: let go of what is kept for it (the backstop's open file). */
  gone(d: Domain): void {
    this.backstop.forget(d);
    this.readings.delete(d);
    this.nextLook.delete(d);
  }

  /** Whether domU `d`'s worker dozes: nothing of it needs reading this tick. */
  dozes(d: Domain, now = performance.now()): boolean {
    const next = this.nextLook.get(d);
    if (next !== undefined && now < next && !this.lookAll) return true;
    const dozes = this.look(d, now);
    if (dozes) this.nextLook.set(d, now + CHECK_MS);
    else if (next !== undefined) this.nextLook.delete(d);
    return dozes;
  }

  /** Looks at `d`: its cell's sampler flag, or two readings of a worker of this process. */
  private look(d: Domain, now: number): boolean {
    const sampler = d.vcpu.pageViews.sampler;
    if (d.worker!.pid !== "self") {
      const dozes = dozing(sampler);
      if (dozes) this.backstop.check(d, now);
      else this.backstop.forget(d);
      return dozes;
    }
    const before = this.readings.get(d);
    const current = reading(d);
    this.readings.set(d, current);
    if (before && quiet(before, current)) return dozing(sampler) || settle(sampler, current);
    Atomics.store(sampler, SAMPLER_DOZING, 0);
    return false;
  }
}
