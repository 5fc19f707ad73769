/**
 * The warm pool (`pvkit up --pool N`): domU workers started ahead of need, as LightVM's split
 * toolstack prepares ahead whatever does not depend on the domain. A pooled worker has started
 * (in its cell, when domUs run in cells), installed the allocation gate, loaded SES, locked down
 * and evaluated the kernel image (image/kernel-image.ts: pvkit's kernel, no program) — about 80 ms
 * of a cold start on a small machine — and waits, holding nothing of any domain: no frame, no vCPU
 * page, no id, no program (realm/supervisor.ts, runPooled). Creating a domain takes one if there is
 * one and hands it the domain's boot data; otherwise the domain starts cold.
 *
 * Rules:
 *   - A worker serves exactly one domain, ever: taken is gone from the pool, never returned, and it
 *     ends with its domain.
 *   - A worker is prepared for one size: the allocation gate's bound and V8's heap limit are set
 *     when it starts, and V8's cannot change after. The pool prepares for the size of the last domU
 *     created (at first `sizeBytes`); a domain of another size starts cold, and the pool retires its
 *     idle workers and prepares for the new size.
 *   - Each pooled worker is admitted like a domain's runtime (its overhead is reserved from the
 *     machine's memory), so `free_memory` counts it; a domain that would not fit takes the room of
 *     an idle pooled worker first (evictOne).
 *   - Refilling never competes with a create in progress: it starts only while no domU is booting
 *     (launched, and not yet settled in a block, shut down or gone) and prepares one
 *     worker at a time.
 *   - Only a ready worker is taken: one still preparing (or rehearsing the kernel's boot,
 *     realm/rehearsal.ts) may yet fail, and its domain would fail with it. A worker that ends
 *     before it is ready is logged; after FAILURES_BEFORE_STOP in a row the pool prepares no more
 *     for that kernel image, and domains start cold until the kernel changes.
 */

import type { KernelImageRef } from "../realm/boot-data.ts";

/** One pooled worker, as its backend (local thread or cell) made it. */
export interface PooledWorker {
  /** The allocation gate's bound it was prepared with: it may serve domains with this one only. */
  readonly jsLimitBytes: number;
  /** The kernel image it evaluated (its id): a program's domain must run on this one. */
  readonly kernelId: string | undefined;
  /** Resolves true once it is ready (gate, SES, lockdown done), false if it died before. */
  readonly ready: Promise<boolean>;
  /** Where it runs, for /proc reads ("self": the hypervisor's process). */
  readonly pid: number | "self";
  /** Ends it, unused. */
  retire(): Promise<void>;
}

/** What starts pooled workers: a thread of the hypervisor's process, or a cell. */
export interface PoolBackend {
  /**
   * Starts one worker prepared for `jsLimitBytes`, with `kernel` evaluated in its realm; `lost` is
   * called if it dies before it is taken.
   */
  prepare(
    jsLimitBytes: number,
    kernel: KernelImageRef | undefined,
    lost: (why: string) => void,
  ): PooledWorker;
}

export interface WarmPoolOptions {
  /** How many workers to keep ready (0: no pool). */
  size: number;
  /** The bound to prepare for until a domU is created (a domain of the toolstack's default size). */
  jsLimitBytes: number;
  /** The backend, once its scripts are built. */
  backend: () => Promise<PoolBackend>;
  /** The kernel image programs run on now (rebuilt when its sources change). */
  kernel: () => Promise<KernelImageRef>;
  /** Admits one pooled worker's runtime: false if the machine has no room for it. */
  reserve: () => boolean;
  /** Ends one pooled worker's reservation (it was taken by a domain, which has its own, or ended). */
  release: () => void;
  log: (line: string) => void;
}

export interface PoolStats {
  /** Workers the pool keeps ready. */
  size: number;
  /** Idle workers now (ready or still preparing). */
  idle: number;
  /** Of them, ready. */
  ready: number;
  /** Domains started from the pool / cold since the host started. */
  served: number;
  cold: number;
}

/** How long a domain counts as booting at most, if it never blocks (a program that computes). */
const BOOT_GUARD_MS = 2000;
/**
 * How long a booting domU must stay blocked, with no trap, to count as up (blocked()). Its boot's
 * blocks with dom0 — each xenstore round trip — last about a millisecond.
 */
export const BOOT_SETTLE_MS = 20;
/**
 * Workers in a row that may end before they are ready (a failed rehearsal: realm/rehearsal.ts)
 * before the pool stops preparing any for that kernel image. One may be chance (a cell killed);
 * three in a row is the kernel, and each would only log the same line after every boot.
 */
const FAILURES_BEFORE_STOP = 3;

interface Entry {
  worker: PooledWorker;
  ready: boolean;
}

/** A booting domU's timers: the guard from its launch, and the look its latest block armed. */
interface Boot {
  guard: NodeJS.Timeout;
  look?: NodeJS.Timeout;
}

export class WarmPool {
  private readonly idle: Entry[] = [];
  private readonly booting = new Map<object, Boot>();
  private jsLimitBytes: number;
  private filling = false;
  private closed = false;
  private served = 0;
  private cold = 0;
  /** Times take() retired every idle worker (another size or kernel), for fill() to notice. */
  private retirements = 0;
  /**
   * Workers that ended before they were ready, in a row, and the kernel image they had: at
   * FAILURES_BEFORE_STOP the pool prepares no more for that image.
   */
  private failures = 0;
  private failuresFor?: string;
  /** Callers of whenReady, each waiting for so many ready workers. */
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(private readonly o: WarmPoolOptions) {
    this.jsLimitBytes = o.jsLimitBytes;
  }

  /** Starts filling (the hypervisor's boot). */
  start(): void {
    void this.fill();
  }

  stats(): PoolStats {
    return {
      size: this.o.size,
      idle: this.idle.length,
      ready: this.idle.filter((e) => e.ready).length,
      served: this.served,
      cold: this.cold,
    };
  }

  /** The processes of the idle workers ("self": threads of the hypervisor's), oldest first. */
  idlePids(): (number | "self")[] {
    return this.idle.map((e) => e.worker.pid);
  }

  /** Resolves once `n` workers are ready and idle (tests and benchmarks wait for a full pool). */
  whenReady(n = this.o.size): Promise<void> {
    if (this.stats().ready >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  private changed(): void {
    const ready = this.stats().ready;
    const now = this.waiters.filter((w) => w.n <= ready);
    this.waiters = this.waiters.filter((w) => w.n > ready);
    for (const w of now) w.resolve();
  }

  /**
   * A worker for a domain whose bound is `jsLimitBytes` and, for a program, whose image runs on the
   * kernel image `kernelId` — or undefined (start it cold). The worker leaves the pool for good; its
   * reservation ends, since the domain's own covers its runtime.
   */
  take(jsLimitBytes: number, kernelId?: string): PooledWorker | undefined {
    if (this.o.size === 0 || this.closed) return undefined;
    const stale = kernelId !== undefined && this.idle.some((e) => e.worker.kernelId !== kernelId);
    if (jsLimitBytes !== this.jsLimitBytes || stale) {
      // Another size, or a kernel changed since they were prepared: what is idle cannot serve it,
      // and the next domains are likelier this size and this kernel (fill() prepares the new one).
      this.jsLimitBytes = jsLimitBytes;
      for (const e of this.idle.splice(0)) this.retire(e.worker);
      this.retirements++;
      this.cold++;
      return undefined;
    }
    // Only a ready worker: one still preparing may yet fail its rehearsal, and a domain given it
    // would crash with it. The domain starts cold instead; the preparing one stays for the next.
    const i = this.idle.findIndex((e) => e.ready);
    if (i < 0) {
      this.cold++;
      return undefined;
    }
    const [e] = this.idle.splice(i, 1) as [Entry];
    this.served++;
    this.o.release();
    return e.worker;
  }

  /** A domU started booting (from the pool or cold): no refill until it is up. */
  bootStarted(domain: object): void {
    if (this.o.size === 0 || this.closed) return;
    const guard = setTimeout(() => this.bootEnded(domain), BOOT_GUARD_MS);
    guard.unref();
    this.booting.set(domain, { guard });
  }

  /**
   * A booting domU's vCPU blocked: it is up if it still sleeps in that block BOOT_SETTLE_MS later
   * (`stillBlocked`: it has not trapped since). Its first block is too soon: a guest with dom0
   * blocks for each xenstore round trip of its boot, and a refill begun then held its dom0's answers
   * back — a cell's spawn forks the hypervisor's process on its main thread (~10 ms on the
   * development machine) and sends the new cell its supervisor — so that `pvkit create` took 70-80
   * ms to main() in a cell instead of ~30.
   */
  blocked(domain: object, stillBlocked: () => boolean): void {
    const boot = this.booting.get(domain);
    if (!boot) return;
    // A block replaces the look an earlier one armed: the guest left that block (or it would not
    // be blocking again), and this may be the one it stays in.
    clearTimeout(boot.look);
    boot.look = setTimeout(() => {
      if (stillBlocked()) this.bootEnded(domain);
    }, BOOT_SETTLE_MS);
    boot.look.unref();
  }

  /** That domU is up (it stayed blocked: blocked()), shut down or gone. */
  bootEnded(domain: object): void {
    const boot = this.booting.get(domain);
    if (!boot) return;
    clearTimeout(boot.guard);
    clearTimeout(boot.look);
    this.booting.delete(domain);
    if (this.booting.size === 0) void this.fill();
  }

  /** Whether `domain` still counts as booting (the hypervisor asks before it looks at its traps). */
  isBooting(domain: object): boolean {
    return this.booting.has(domain);
  }

  /** Ends one idle worker (the newest) to make room for a domain; false if none is idle. */
  evictOne(): boolean {
    const e = this.idle.pop();
    if (!e) return false;
    this.retire(e.worker);
    return true;
  }

  /** Ends every idle worker; taken ones end with their domains. */
  async close(): Promise<void> {
    this.closed = true;
    for (const boot of this.booting.values()) {
      clearTimeout(boot.guard);
      clearTimeout(boot.look);
    }
    this.booting.clear();
    await Promise.all(this.idle.splice(0).map((e) => this.retire(e.worker)));
  }

  private retire(w: PooledWorker): Promise<void> {
    this.o.release();
    return w.retire();
  }

  /** Prepares workers, one at a time, until the pool is full or a domU starts booting. */
  private async fill(): Promise<void> {
    if (this.filling) return;
    this.filling = true;
    try {
      const backend = await this.o.backend();
      for (;;) {
        const retiredBefore = this.retirements;
        const kernel = await this.o.kernel(); // from the cache unless a kernel source changed
        // take() found the idle workers stale meanwhile: this kernel may be the stale one too.
        if (this.retirements !== retiredBefore) continue;
        if (this.closed || this.idle.length >= this.o.size || this.booting.size > 0) break;
        if (this.failuresFor === kernel.id && this.failures >= FAILURES_BEFORE_STOP) break;
        if (!this.o.reserve()) break; // the machine's memory is promised to domains
        const lost = (why: string) => {
          const i = this.idle.indexOf(entry);
          if (i < 0) return; // taken or retired: not the pool's any more
          this.idle.splice(i, 1);
          this.o.release();
          this.o.log(`pool: a pooled worker ended before it was used: ${why}`);
        };
        let worker: PooledWorker;
        try {
          worker = backend.prepare(this.jsLimitBytes, kernel, lost);
        } catch (e) {
          this.o.release();
          throw e;
        }
        const entry: Entry = { worker, ready: false };
        this.idle.push(entry);
        entry.ready = await entry.worker.ready;
        this.changed();
        // One that failed to prepare was removed by `lost`: do not spin starting more of them.
        if (!entry.ready) {
          if (this.failuresFor !== kernel.id) this.failures = 0;
          this.failuresFor = kernel.id;
          if (++this.failures === FAILURES_BEFORE_STOP)
            this.o.log(
              `pool: ${this.failures} workers in a row ended before they were ready: ` +
                `no more are prepared for this kernel image; domains start cold until it changes`,
            );
          break;
        }
        this.failures = 0;
      }
    } catch (e) {
      this.o.log(`pool: cannot prepare workers: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.filling = false;
    }
  }
}
