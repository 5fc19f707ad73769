/**
 * V8's code cache for the supervisor. A domU worker compiles the supervisor bundle (460 KB, most of
 * it SES) and, while it locks down, compiles lazily every SES function lockdown calls: ~30 ms of a
 * cold start. A code cache taken after a lockdown holds that bytecode, and a worker that compiles
 * the bundle with it skips the work.
 *
 * A domU worker therefore runs SUPERVISOR_STUB (with `eval: true`), which compiles the bundle with
 * node:vm and the cache, and then runs it as the CommonJS script it is. The cache is made once per
 * host process by a worker that never runs a domain (image/supervisor-code.ts): it locks down, hands
 * the cache over, and ends — so no guest code ever ran where the cache was made, and the bytecode
 * every later worker runs is the hypervisor's own. It is kept in memory only: V8 checks a cache
 * against its source's length, not its text, so a cache must never outlive the bundle it was made
 * from. A cache V8 refuses (other flags, another V8) costs nothing: the bundle compiles as before.
 *
 * Rule: the privileged domain keeps the plain script (it imports modules, which vm scripts cannot
 * without a loader); the stub hands the supervisor nothing but the cache maker's hook.
 */

/** The supervisor's code as a domU worker receives it (its workerData `code`). */
export interface SupervisorCode {
  /** The bundle (image/supervisor-image.ts). */
  source: string;
  /** V8's code cache for it, once one was made. */
  cache?: Uint8Array;
}

/** Where the stub leaves its hook for the supervisor (read once, then deleted). */
const HOOK = "__pvkitSupervisorScript";

/**
 * Compiles the bundle from workerData.code with its cache and runs it with this script's
 * CommonJS bindings. The filename keeps stack traces readable.
 */
export const SUPERVISOR_STUB = `"use strict";
// V8 refuses a cache made under other flags, and the supervisor's allocation gate sets --expose-gc
// (supervisor.ts, obtainGc) in whatever process it runs: set it first, so that the cache is made
// and used under the same flags in the hypervisor's process and in every cell.
require("node:v8").setFlagsFromString("--expose-gc");
const { Script } = require("node:vm");
const { workerData } = require("node:worker_threads");
const code = workerData.code;
const script = new Script(
  "(function (require, module, exports, __filename, __dirname) {" + code.source + "\\n})",
  { filename: "pvkit-supervisor.js", cachedData: code.cache },
);
Object.defineProperty(globalThis, ${JSON.stringify(HOOK)}, {
  value: { rejected: code.cache ? script.cachedDataRejected : undefined, cache: () => script.createCachedData() },
  configurable: true,
});
script.runInThisContext()(require, module, exports, __filename, __dirname);
`;

/** What the stub tells the supervisor: whether V8 took the cache, and how to make one. */
export interface StubHook {
  /** undefined: no cache was given; true: V8 refused it. */
  rejected: boolean | undefined;
  cache: () => Uint8Array;
}

/** The stub's hook, taken off the global object (undefined when the worker did not start through it). */
export function takeStubHook(): StubHook | undefined {
  const g = globalThis as Record<string, unknown>;
  const hook = g[HOOK] as StubHook | undefined;
  delete g[HOOK];
  return hook;
}
