/**
 * How long the trap service polls for a busy guest's next trap before it sleeps: KVM's
 * halt-polling window, adapted the way KVM adapts it (virt/kvm/kvm_main.c's grow and shrink), and
 * like KVM's kept per vCPU: after a pass the service polls for the longest window among the busy
 * vCPUs it served, and each vCPU's next trap adapts its own. So a domain whose calls come later than
 * polling waits cannot take polling away from a neighbour calling back to back.
 *
 * Polling costs the service's thread, on a machine of two cores a core a guest could use; sleeping
 * costs a wake-up when the trap comes (tens of microseconds, a system call on each side). Polling
 * pays when the trap comes within the window — a guest calling back to back, answered in about a
 * microsecond — and is spent for nothing when it comes later: a request and its reply through dom0
 * and another domain, where HTTP's GETs cost the service ~15 µs of CPU each in polls that missed
 * (0.29 misses and 0.14 catches a GET in `pnpm bench tcp`, a catch 34 µs into the window).
 *
 * What decides is when the guest trapped after its last result, not when the service woke to see
 * it, which adds the service's own wake-up: on a busy machine that alone passes the window, and a
 * guest calling back to back would look like one that does not. A guest that traps while the
 * service sleeps sleeps in its trap at once, and its supervisor stamps when (SLEEPING_SINCE, kept
 * for the CPU account, realm/trap.ts): that stamp is the trap's time.
 */
import { SLEEPING_SINCE } from "../realm/vcpu-page.ts";

/** The longest the service keeps polling after a busy guest's trap before sleeping (µs). */
export const SPIN_US = 50;
/** The window a short gap grows a window of none to (µs); a window halved below it is none. */
export const SPIN_GROW_START_US = 10;

/**
 * The window after a busy guest came back `gapUs` after its last result while the service slept.
 * A gap the longest window would have caught means this one is too short: double it, from
 * SPIN_GROW_START_US. A longer gap means polling would have been spent for nothing: halve it. So a
 * guest calling back to back keeps the window, and traps that come further apart stop paying for it.
 */
export function adaptedSpinUs(spinUs: number, gapUs: number): number {
  if (gapUs <= SPIN_US)
    return spinUs >= SPIN_US ? spinUs : Math.min(SPIN_US, Math.max(SPIN_GROW_START_US, spinUs * 2));
  return spinUs / 2 < SPIN_GROW_START_US ? 0 : spinUs / 2;
}

/**
 * performance.now() minus the monotonic clock in ms: turns a supervisor's process.hrtime stamp (the
 * same system-wide clock, in a cell too) into this thread's performance.now() time. Read between
 * two readings of performance.now(), the closest of a few pairs (a first, cold reading is off by
 * microseconds, which is what a gap is measured in).
 */
const HRTIME_OFFSET_MS = (() => {
  let spread = Infinity;
  let offset = 0;
  for (let i = 0; i < 16; i++) {
    const before = performance.now();
    const hr = Number(process.hrtime.bigint()) / 1e6;
    const after = performance.now();
    if (after - before < spread) [spread, offset] = [after - before, (before + after) / 2 - hr];
  }
  return offset;
})();

/**
 * When a vCPU trapped (performance.now() time), `now` being when the service found it: its
 * supervisor's stamp if it sleeps in the trap, else now (it is still spinning: it trapped just now).
 * The stamp is the worker's to write, so it is believed only up to now; all a forged one can change
 * is whether this vCPU counts as busy and its own window: at most SPIN_US of polling after each of
 * its own traps, which calling back to back would buy it anyway.
 */
export function guestTrapTime(status: BigInt64Array, now: number): number {
  const since = Atomics.load(status, SLEEPING_SINCE);
  if (since <= 0n) return now;
  return Math.min(now, Number(since) / 1e6 + HRTIME_OFFSET_MS);
}
