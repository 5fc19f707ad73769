/**
 * Giving the C heap's free pages back to the host after domains start and end.
 *
 * A domain's worker allocates much of its start outside V8's heap: V8 compiles the supervisor, SES
 * and the kernel in zones of malloc'd memory, Node builds the worker's environment, and most of it
 * is freed once the domain runs. glibc keeps what a thread frees in that thread's arena and gives
 * memory back to the kernel only from the top of an arena, so those pages stay the process's for
 * good: 20 idle 4 MiB guests with cells off left 54-68 MiB of free C heap in the hypervisor's
 * process (2.7-3.4 MiB a guest), a cell ~5 MiB of its ~21. `malloc_trim` hands every free page back,
 * and the native addon runs it on a thread of its own (it takes each arena's lock in turn, 2-15 ms
 * in all), so no thread that serves a domain waits for it.
 *
 * When: a while after something started or ended (TRIM_AFTER_MS: a domain's boot is over by then,
 * and a burst of creates is trimmed once, not once a create), never twice within TRIM_GAP_MS, and
 * again every TRIM_EVERY_MS until TRIM_FOR_MS have passed since the last start or end: V8's memory
 * reducer frees more of each new isolate 30 to 90 s after it starts. A host where nothing starts or
 * ends has no timer at all, so an idle host stays asleep.
 */

/** First trim after a start or an end (ms). */
export const TRIM_AFTER_MS = 2000;
/** Trims are at least this far apart (ms). */
export const TRIM_GAP_MS = 10_000;
/** Later trims, while the last start or end is recent (ms). */
export const TRIM_EVERY_MS = 30_000;
/** How long after the last start or end trims go on (ms): past V8's memory reducer. */
export const TRIM_FOR_MS = 120_000;

export class HeapTrimmer {
  private lastActivity = -Infinity;
  private lastTrim = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (clock ms), Infinity when none is armed. */
  private due = Infinity;
  private stopped = false;

  /**
   * @param trim starts a trim (the addon's `mallocTrim`, which returns at once)
   * @param clock monotonic ms (tests pass their own)
   */
  constructor(
    private readonly trim: () => void,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** A domain's worker started or ended, or went idle: what it freed is worth giving back. */
  activity(): void {
    if (this.stopped) return;
    this.lastActivity = this.clock();
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
    this.lastTrim = this.clock();
    this.trim();
    if (this.lastTrim - this.lastActivity < TRIM_FOR_MS) this.arm(TRIM_EVERY_MS);
  };
}
