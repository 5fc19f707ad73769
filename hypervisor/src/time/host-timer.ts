/**
 * Host timers for guest deadlines. A guest names any 64-bit deadline; a host timer takes at most
 * 2^31-1 ms (Node turns anything larger into 1 ms, with a warning on stderr — a guest must not be
 * able to do either). So a far deadline is reached in steps of at most that, and every wake-up checks
 * system time: host timers may also fire a millisecond early, and a guest must never see its
 * deadline early.
 */
import type { Clock } from "./clock.ts";

/** The longest delay a host timer takes. */
export const MAX_HOST_TIMER_MS = 2 ** 31 - 1;

/** A timer armed for a deadline; cancel() is idempotent. */
export interface HostTimer {
  cancel(): void;
}

/** Calls `fire` once system time has reached `deadlineNs` (at once if it already has). */
export function armAt(clock: Clock, deadlineNs: bigint, fire: () => void): HostTimer {
  let t: NodeJS.Timeout | undefined;
  let cancelled = false;
  const step = () => {
    t = undefined;
    if (cancelled) return;
    const leftNs = deadlineNs - clock.systemTime();
    if (leftNs <= 0n) return fire();
    const ms = leftNs / 1_000_000n + 1n;
    t = setTimeout(step, ms > BigInt(MAX_HOST_TIMER_MS) ? MAX_HOST_TIMER_MS : Number(ms));
    t.unref();
  };
  step();
  return {
    cancel() {
      cancelled = true;
      clearTimeout(t);
    },
  };
}

/** Calls `fire` after `ms` (any non-negative number, however large), never early. */
export function armAfter(clock: Clock, ms: number | bigint, fire: () => void): HostTimer {
  const ns = typeof ms === "bigint" ? ms * 1_000_000n : BigInt(Math.max(0, Math.ceil(ms * 1e6)));
  return armAt(clock, clock.systemTime() + ns, fire);
}

/** Calls `fire` every `periodNs` from now on, each no earlier than its due time. */
export function armPeriodic(clock: Clock, periodNs: bigint, fire: () => void): HostTimer {
  let next = clock.systemTime() + periodNs;
  let cur: HostTimer;
  let cancelled = false;
  const tick = () => {
    if (cancelled) return;
    fire();
    // Skip periods that passed while the host was busy, as Xen does; never fire twice to catch up.
    const now = clock.systemTime();
    next += periodNs;
    if (next <= now) next = now + periodNs - ((now - next) % periodNs);
    cur = armAt(clock, next, tick);
  };
  cur = armAt(clock, next, tick);
  return {
    cancel() {
      cancelled = true;
      cur.cancel();
    },
  };
}
