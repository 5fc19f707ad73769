/**
 * The supervisor's code for domU workers, with V8's code cache once there is one
 * (realm/code-cache.ts). The cache is made once per host process, in the background, by a worker
 * thread of the hypervisor's own that never runs a domain: it starts through the stub, locks down
 * as a domU's supervisor does, posts the cache and is ended. Workers started before it is ready
 * compile the bundle as before.
 *
 * Rule: a code cache is taken from the cache maker alone — never from a domain's worker or cell,
 * whose bytecode would then run in every later domain.
 */
import { Worker } from "node:worker_threads";
import type { SupervisorCode } from "../realm/code-cache.ts";
import { SUPERVISOR_STUB } from "../realm/code-cache.ts";
import type { PooledBoot, SupervisorReport } from "../realm/boot-data.ts";
import { SHM_ADDON_PATH } from "../native/shm.ts";
import { supervisorScript } from "./supervisor-image.ts";

let cache: Uint8Array | undefined;
let making: Promise<void> | undefined;
/** Caches made again after V8 refused one (the process's flags changed): a few at most. */
let remade = 0;
const MAX_REMADE = 3;
const listeners: ((cache: Uint8Array) => void)[] = [];

/** Makes the code cache: one throwaway worker, ~a cold start's CPU. */
function makeCache(source: string): Promise<void> {
  const maker: PooledBoot = { addon: SHM_ADDON_PATH, jsLimitBytes: 64 * 1024 * 1024 };
  const w = new Worker(SUPERVISOR_STUB, {
    eval: true,
    name: "pvkit-code-cache",
    argv: [],
    execArgv: [],
    env: {},
    stdout: false,
    stderr: false,
    workerData: { code: { source } satisfies SupervisorCode, cacheMaker: maker },
  });
  w.unref(); // nobody waits for it: a host may close while it works
  return new Promise<void>((resolve) => {
    w.on("message", (m: SupervisorReport) => {
      if (m?.t === "code-cache" && m.data instanceof Uint8Array && m.data.length > 0 && !cache) {
        cache = m.data;
        for (const l of listeners) l(m.data);
      }
      void w.terminate();
    });
    w.once("error", () => {}); // no cache: workers compile the bundle themselves
    w.once("exit", () => resolve());
  });
}

/**
 * The supervisor's code (`source`, the bundle) for a domU worker now, with the code cache if it is
 * made. The first call starts making it.
 */
export function supervisorCodeFor(source: string): SupervisorCode {
  making ??= makeCache(source);
  return cache ? { source, cache } : { source };
}

/** The same, once the bundle is built. */
export async function supervisorCode(): Promise<SupervisorCode> {
  return supervisorCodeFor(await supervisorScript());
}

/** Resolves once the code cache is made, or could not be (undefined). Starts making it. */
export async function supervisorCodeCache(): Promise<Uint8Array | undefined> {
  await supervisorCode();
  await making;
  return cache;
}

/**
 * Calls `fn` with every code cache made from now on (a cell host passes it to its spare cell);
 * returns what stops it.
 */
export function onSupervisorCodeCache(fn: (cache: Uint8Array) => void): () => void {
  listeners.push(fn);
  return () => void listeners.splice(listeners.indexOf(fn) >>> 0, 1);
}

/**
 * A pooled worker said V8 refused `refused`: V8 checks the flags a cache was made under, and a
 * process's flags can change after it was made (a local pool turns bytecode flushing off in the
 * hypervisor's process). If it is the current cache, it is dropped and made again under the flags
 * of now — a few times at most, in case the refusal is another process's (a cell with other flags).
 */
export function supervisorCodeRefused(refused: Uint8Array | undefined): void {
  if (!refused || refused !== cache || remade >= MAX_REMADE) return;
  remade++;
  cache = undefined;
  making = undefined;
  void supervisorCode();
}
