/**
 * Giving a cell's free C heap back to the host after its worker is ready or its domain starts.
 *
 * A domain's worker allocates much of its start outside V8's heap: V8 compiles the supervisor, SES
 * and the kernel in zones of malloc'd memory, Node builds the worker's environment, and most of it
 * is freed once the domain runs. glibc keeps what a thread frees in that thread's arena and gives
 * memory back to the kernel only from the top of an arena, so those pages stay the process's for
 * good: ~5 MiB of an idle cell's ~21. `malloc_trim` hands every free page back; the native addon
 * runs it on a thread of its own, one at a time.
 *
 * Only cells trim, each its own process (cell/cell-main.ts). A trim holds each arena's lock while it
 * walks that arena's free blocks: 2-15 ms here for an ordinary heap, but a guest decides how many
 * free blocks there are, and a review's guest that left 40 000 to 100 000 of them held the lock for
 * 0.6-3.2 s, stalling every thread that allocated meanwhile. In its cell that stalls the guest
 * and its cell alone — the cell's main thread and V8's helpers too, since a cell keeps one arena
 * (cell/cell-process.ts), but nothing of any other domain; in the hypervisor's process (dom0, and every domU with cells off) it would stall the
 * thread that serves every domain, for 0.6 MiB a guest of gain with cells off.
 *
 * When: only while the domain idles; TRIM_AFTER_MS after it starts (its boot is over by then)
 * and after each time it goes idle in its first TRIM_WINDOW_MS (V8's memory reducer frees more of
 * a new isolate 30 to 90 s after it starts, and the cell's sampler wakes and dozes again around
 * each of its collections); never twice within TRIM_GAP_MS; and every TRIM_EVERY_MS until
 * TRIM_FOR_MS have passed since the last. So a cell trims a few times in its first minutes and
 * never again: a long-lived domain, busy or idle, has no timer for it.
 */

/** First trim after a start or an activity (ms). */
export const TRIM_AFTER_MS = 2000;
/** Trims are at least this far apart (ms). */
export const TRIM_GAP_MS = 10_000;
/** Later trims, while the last activity is recent (ms). */
export const TRIM_EVERY_MS = 30_000;
/** Trims go on while the last activity is less than this old (ms): up to TRIM_EVERY_MS more. */
export const TRIM_FOR_MS = 120_000;
/** Activity counts only this long after a start (ms): past V8's memory reducer. */
export const TRIM_WINDOW_MS = 150_000;

export class HeapTrimmer {
  private lastActivity = -Infinity;
  /** When activity stops counting (clock ms). */
  private windowEnds = -Infinity;
  private lastTrim = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (clock ms), Infinity when none is armed. */
  private due = Infinity;
  private stopped = false;

  /**
   * @param trim starts a trim (the addon's `mallocTrim`, which returns at once)
   * @param idle whether the domain idles now: a trim waits for that (see fire)
   * @param clock monotonic ms (tests pass their own)
   */
  constructor(
    private readonly trim: () => void,
    private readonly idle: () => boolean = () => true,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /**
   * The worker is ready, or its domain started: what their start freed is worth giving back, and
   * so is what the new isolate frees in the next TRIM_WINDOW_MS.
   */
  start(): void {
    this.windowEnds = this.clock() + TRIM_WINDOW_MS;
    this.activity();
  }

  /** The domain went idle: worth a trim if it started recently. */
  activity(): void {
    const now = this.clock();
    if (this.stopped || now > this.windowEnds) return;
    this.lastActivity = now;
    this.arm(TRIM_AFTER_MS);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.due = Infinity;
  }

  /** Arms the timer for `ms` from now (no sooner than the gap allows), unless it fires sooner. */
  private arm(ms: number): void {
    const now = this.clock();
    const at = Math.max(now + ms, this.lastTrim + TRIM_GAP_MS);
    if (at >= this.due) return;
    clearTimeout(this.timer);
    this.due = at;
    // Nothing waits for a trim: it never keeps the process alive.
    this.timer = setTimeout(this.fire, at - now).unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.due = Infinity;
    if (this.stopped) return;
    // Never under a working domain: the trim holds the arena's lock while it walks it, so the
    // domain's allocations would wait, and what it gives back a working domain takes again at
    // once, a page fault a page. Look again shortly, while the last activity is recent.
    if (!this.idle()) {
      if (this.clock() - this.lastActivity < TRIM_FOR_MS) this.arm(TRIM_AFTER_MS);
      return;
    }
    this.lastTrim = this.clock();
    try {
      this.trim();
    } catch {
      // A trim that cannot start is one trim less; it must not end the process.
    }
    if (this.lastTrim - this.lastActivity < TRIM_FOR_MS) this.arm(TRIM_EVERY_MS);
  };
}
