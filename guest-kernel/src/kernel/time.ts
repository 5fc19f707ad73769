/**
 * Time, guest side: the monotonic system clock from vcpu_time_info, the wallclock from
 * shared_info's wc_* fields, and sleeping through set_timer_op + VIRQ_TIMER. Both records are
 * written by the hypervisor while we read them, so every read follows the version protocol: read
 * the version, the fields, the version again, and retry unless it was even and unchanged.
 */
import type { Events } from "./events.ts";
import type { XenOps } from "./hypervisor.ts";
import { TimerHeap } from "./timers.ts";
import { SHARED_INFO, VCPU_INFO, VCPU_TIME, VIRQ_TIMER } from "./xen.ts";

/**
 * pvkit's "TSC": the host's monotonic nanosecond counter, the same in every thread of the
 * machine process. The hypervisor stamps tsc_timestamp with it; with tsc_shift 1 and
 * tsc_to_system_mul 2^31 one tick is one nanosecond.
 */
export const hostTsc = (): bigint => process.hrtime.bigint();

/** A wait that ran out of time (Xen's -ETIMEDOUT, 110). */
export class TimeoutError extends Error {
  readonly errno = 110;
  constructor(message: string) {
    super(message);
    this.name = "TimeoutError";
  }
}

/** A consistent snapshot of vcpu_time_info. */
export interface TimeInfo {
  version: number;
  tscTimestamp: bigint;
  systemTime: bigint;
  mul: number;
  shift: number;
}

/** Bounded retry: a hypervisor stuck mid-update must not hang the guest. */
const MAX_RETRIES = 1000;

export class Clock {
  private readonly u32: Uint32Array;
  private readonly base: number;
  private readonly bootTsc: bigint;

  constructor(
    private readonly shared: DataView,
    vcpu = 0,
    private readonly tsc: () => bigint = hostTsc,
  ) {
    this.u32 = new Uint32Array(shared.buffer, shared.byteOffset, 1024);
    this.base = vcpu * VCPU_INFO.size + VCPU_INFO.time;
    this.bootTsc = tsc();
  }

  /** Reads vcpu_time_info under the version protocol. */
  timeInfo(): TimeInfo {
    const v = this.shared;
    const b = this.base;
    for (let i = 0; ; i++) {
      const v1 = Atomics.load(this.u32, (b + VCPU_TIME.version) >> 2);
      const info: TimeInfo = {
        version: v1,
        tscTimestamp: v.getBigUint64(b + VCPU_TIME.tscTimestamp, true),
        systemTime: v.getBigUint64(b + VCPU_TIME.systemTime, true),
        mul: v.getUint32(b + VCPU_TIME.tscToSystemMul, true),
        shift: v.getInt8(b + VCPU_TIME.tscShift),
      };
      const v2 = Atomics.load(this.u32, (b + VCPU_TIME.version) >> 2);
      if ((v1 & 1) === 0 && v1 === v2) return info;
      if (i >= MAX_RETRIES) throw new Error("vcpu_time_info: version never settled");
    }
  }

  /**
   * Nanoseconds since the domain booted: system_time + scaled (tsc - tsc_timestamp), the formula
   * in xen.h. Before the hypervisor has published a time record (mul = 0) we count from our own
   * boot on the same host counter, so time still moves.
   */
  now(): bigint {
    const t = this.timeInfo();
    const tsc = this.tsc();
    if (t.mul === 0) return tsc - this.bootTsc;
    let delta = tsc - t.tscTimestamp;
    if (delta < 0n) delta = 0n;
    delta = t.shift >= 0 ? delta << BigInt(t.shift) : delta >> BigInt(-t.shift);
    return t.systemTime + ((delta * BigInt(t.mul)) >> 32n);
  }

  /** Wallclock at system time 0 (wc_sec[_hi], wc_nsec), under wc_version. */
  wallclockBase(): { sec: bigint; nsec: number } {
    const v = this.shared;
    const vi = SHARED_INFO.wcVersion >> 2;
    for (let i = 0; ; i++) {
      const v1 = Atomics.load(this.u32, vi);
      const lo = v.getUint32(SHARED_INFO.wcSec, true);
      const hi = v.getUint32(SHARED_INFO.wcSecHi, true);
      const nsec = v.getUint32(SHARED_INFO.wcNsec, true);
      const v2 = Atomics.load(this.u32, vi);
      if ((v1 & 1) === 0 && v1 === v2) return { sec: (BigInt(hi) << 32n) | BigInt(lo), nsec };
      if (i >= MAX_RETRIES) throw new Error("wallclock: version never settled");
    }
  }

  /** Current wall time in ns since the Unix epoch: boot wallclock + system time. */
  wallclockNs(): bigint {
    const w = this.wallclockBase();
    return w.sec * 1_000_000_000n + BigInt(w.nsec) + this.now();
  }
}

/**
 * Sleeping: a timer heap plus the one hypervisor timer. Whenever the earliest deadline changes we
 * re-arm set_timer_op; VIRQ_TIMER runs what is due and re-arms for the next.
 */
export class Timers {
  readonly heap = new TimerHeap();
  private armed: bigint | undefined;
  private port = -1;
  onError: (e: unknown) => void = () => undefined;

  constructor(
    readonly clock: Clock,
    private readonly ops: XenOps,
  ) {}

  /** Binds VIRQ_TIMER. Call once at boot, after events are up. */
  init(events: Events): void {
    this.port = events.bindVirq(VIRQ_TIMER, () => this.tick());
  }

  get virqPort(): number {
    return this.port;
  }

  /**
   * Runs due timers and re-arms. VIRQ_TIMER means the hypervisor's one-shot timer is spent, so it is
   * armed again even for the same deadline (a deadline our clock does not yet show as passed would
   * otherwise never fire). Also safe to call from the idle loop.
   */
  tick(): void {
    this.heap.expire(this.clock.now(), this.onError);
    this.armed = -1n; // spent: matches no deadline, so rearm() always tells the hypervisor
    this.rearm();
  }

  private rearm(): void {
    const next = this.heap.next();
    if (next === this.armed) return;
    this.armed = next;
    // 0 cancels; a deadline already past makes the hypervisor fire at once, which is what we want.
    this.ops.setTimer(next ?? 0n);
  }

  /** Calls `cb` at absolute system time `deadline`. Returns an id for cancel(). */
  at(deadline: bigint, cb: () => void): number {
    const id = this.heap.add(deadline, cb);
    this.rearm();
    return id;
  }

  /** Calls `cb` after `ms` milliseconds. */
  after(ms: number, cb: () => void): number {
    return this.at(this.clock.now() + BigInt(Math.max(0, Math.round(ms * 1e6))), cb);
  }

  cancel(id: number): void {
    this.heap.cancel(id);
    this.rearm();
  }

  /** Resolves after `ms` milliseconds of system time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }

  /**
   * Settles like `p`, or rejects with `TimeoutError` after `ms` if `p` has not settled by then.
   * The timer is cancelled as soon as `p` settles, so a finished wait leaves nothing armed.
   */
  timeout<T>(p: Promise<T>, ms: number, what = "operation"): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.after(ms, () => reject(new TimeoutError(`${what} timed out after ${ms} ms`)));
      p.then(
        (v) => {
          this.cancel(id);
          resolve(v);
        },
        (e) => {
          this.cancel(id);
          reject(e);
        },
      );
    });
  }
}
