/**
 * A cell's sampler of its worker's activity: the worker's work and idleness, written into its vCPU
 * page's host block for the hypervisor's CPU account, watchdog and memory watch (only this process
 * can ask a worker of its own). Every SAMPLE_MS while the worker does something; once a window was
 * quiet the sampler dozes until the worker wakes it (realm/doze.ts says why that is safe for each
 * bound). An idle domain's cell so sleeps in its event loop like its worker, instead of waking ten
 * times a second to write down that nothing happened.
 *
 * The backstop for guest code the supervisor never saw is the hypervisor's, which reads the worker
 * thread's CPU time from /proc without waking anyone and, if it moved, sends "sample" (the function
 * returned here). Where it cannot — the supervisor found no thread id to give it, not Linux — the
 * sampler looks again every DOZE_BACKSTOP_MS itself.
 */
import type { Worker } from "node:worker_threads";
import { DOZE_BACKSTOP_MS, SAMPLE_MS, quiet, settle, type DozeReading } from "../realm/doze.ts";
import {
  CHECKPOINTS,
  HOST_IDLE_MS,
  HOST_WORKING_MS,
  SAMPLER_DOZING,
  SAMPLER_WAKES,
  SLEEPING_SINCE,
  THREAD_ID,
  vcpuPageViews,
  workerActivity,
} from "../realm/vcpu-page.ts";

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/**
 * Samples `w`'s activity into its vCPU page `page` for as long as the cell lives; `onDoze` hears
 * each time the sampler begins to doze. Returns what ends a doze from outside (the hypervisor's
 * backstop).
 */
export function sampleActivity(w: Worker, page: SharedArrayBuffer, onDoze: () => void): () => void {
  const { host, status, sampler } = vcpuPageViews(page);
  /** Takes a reading and publishes it. */
  const read = (): DozeReading => {
    const now = workerActivity(w.performance.eventLoopUtilization(), status.big);
    host[HOST_WORKING_MS] = now.working;
    host[HOST_IDLE_MS] = now.idle;
    return {
      working: now.working,
      checkpoints: Atomics.load(status.words, CHECKPOINTS),
      wakes: Atomics.load(sampler, SAMPLER_WAKES),
      sleeping: Atomics.load(status.big, SLEEPING_SINCE) !== 0n,
    };
  };
  void (async () => {
    let before = read();
    for (;;) {
      await pause(SAMPLE_MS);
      let now = read();
      // Doze while the windows stay quiet: a wake that finds nothing done dozes again at once, a
      // worker that woke (its wake count moved) is sampled every SAMPLE_MS again. A pending
      // waitAsync does not keep the cell alive: its worker does.
      let dozed = false;
      while (quiet(before, now) && settle(sampler, now)) {
        if (!dozed) onDoze();
        dozed = true;
        const hypervisorWatches = Atomics.load(status.words, THREAD_ID) !== 0;
        const backstop = hypervisorWatches ? undefined : DOZE_BACKSTOP_MS;
        await Atomics.waitAsync(sampler, SAMPLER_DOZING, 1, backstop).value;
        Atomics.store(sampler, SAMPLER_DOZING, 0);
        before = now;
        now = read();
      }
      before = now;
    }
  })();
  return () => {
    Atomics.store(sampler, SAMPLER_DOZING, 0);
    Atomics.notify(sampler, SAMPLER_DOZING);
  };
}
