/**
 * The clock HTTP runs on. In a guest it must be the kernel's (`k.time`): the kernel idles its vCPU
 * until its next event or kernel timer, and a realm setTimeout is not sure to wake it, so an idle
 * timeout set with one might never fire. `k.time` has exactly this shape. On the host (tests),
 * setTimeout and Date stand in.
 */
export interface HttpClock {
  sleep(ms: number): Promise<void>;
  /** Milliseconds, monotonic. */
  uptimeMs(): number;
  /** Wallclock time, for the Date header. */
  now(): Date;
}

export const hostClock: HttpClock = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  uptimeMs: () => performance.now(),
  now: () => new Date(),
};
