/**
 * Pooled workers in the hypervisor's own process (domUs with cells off): Worker threads started
 * with a PooledBoot — the supervisor's script, the addon's path and a bound, nothing of any domain
 * — which prepare and wait (realm/supervisor.ts, runPooled). domain/worker.ts's assignWorker
 * hands one its domain.
 */
import { setFlagsFromString } from "node:v8";
import { Worker } from "node:worker_threads";
import { workerOptions } from "../domain/worker.ts";
import type { PooledBoot, SupervisorReport } from "../realm/boot-data.ts";
import { SUPERVISOR_STUB } from "../realm/code-cache.ts";
import { supervisorCodeFor, supervisorCodeRefused } from "../image/supervisor-code.ts";
import type { PoolBackend, PooledWorker } from "./warm-pool.ts";

/** A pooled Worker of this process; `worker` is what a domain is given. */
export class LocalPooled implements PooledWorker {
  readonly pid = "self";
  readonly ready: Promise<boolean>;

  constructor(
    readonly worker: Worker,
    readonly jsLimitBytes: number,
    readonly kernelId: string | undefined,
    lost: (why: string) => void,
  ) {
    let crash: string | undefined;
    this.ready = new Promise((resolve) => {
      worker.on("message", (m: SupervisorReport) => {
        if (m?.t === "ready") {
          // A waiting pooled worker does not keep the host's process alive (a preparing one
          // does: someone may wait for it); its domain's will.
          worker.unref();
          resolve(true);
        } else if (m?.t === "crash") crash ??= m.reason;
      });
      worker.once("error", (e) => (crash ??= `uncaught ${e.name}: ${e.message}`));
      worker.once("exit", (code) => {
        resolve(false);
        lost(crash ?? `its worker exited with code ${code}`);
      });
    });
  }

  retire(): Promise<void> {
    return this.worker.terminate().then(() => undefined);
  }
}

/** Starts pooled workers in this process. */
export function localPoolBackend(o: {
  supervisor: string;
  addon: string;
  heapHeadroomMiB: number;
  /**
   * The trap service's bell, which the domU a worker gets rings (transport/service-bell.ts); without
   * it, its traps notify the doorbell as dom0's do.
   */
  serviceBell?: number;
}): PoolBackend {
  // A pooled supervisor turns bytecode flushing off (realm/supervisor.ts), and here a V8 flag is the
  // host's: set it now, before any supervisor is compiled, so that every one — and the code cache
  // (image/supervisor-code.ts) — is compiled under the same flags, or V8 would refuse the cache.
  setFlagsFromString("--no-flush-bytecode");
  return {
    prepare(jsLimitBytes, kernel, lost) {
      const pool: PooledBoot = {
        addon: o.addon,
        jsLimitBytes,
        ...(o.serviceBell !== undefined ? { serviceBell: o.serviceBell } : {}),
        ...(kernel ? { kernel } : {}),
      };
      const code = supervisorCodeFor(o.supervisor);
      const w = new Worker(SUPERVISOR_STUB, {
        ...workerOptions(undefined, { jsLimitBytes, heapHeadroomMiB: o.heapHeadroomMiB }),
        workerData: { pool, code },
      });
      w.on("message", (m: SupervisorReport) => {
        if (m?.t === "ready" && m.codeCache === "refused") supervisorCodeRefused(code.cache);
      });
      return new LocalPooled(w, jsLimitBytes, kernel?.id, lost);
    },
  };
}
