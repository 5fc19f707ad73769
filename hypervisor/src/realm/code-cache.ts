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
 * Rule: the privileged domain runs the supervisor as a plain eval script (supervisorCall: it imports
 * modules, which vm scripts cannot without a loader); the stub hands the supervisor nothing but the
 * cache maker's hook.
 */

import { PROCESS_V8_FLAGS } from "./v8-flags.ts";

/** The CommonJS bindings the supervisor bundle is a function of (as a CommonJS module is). */
const BINDINGS = "require, module, exports, __filename, __dirname";

/**
 * The supervisor bundle as one function expression of CommonJS's bindings: the text the stub
 * compiles, made once in the hypervisor's process. The stub compiles the very string it was sent;
 * wrapping it in the worker made a second copy of 460 KB that every worker kept for its life (the
 * compiled script's source), beside the one in its workerData.
 */
export function supervisorFunction(bundle: string): string {
  return `(function (${BINDINGS}) {${bundle}\n})`;
}

/**
 * A script that calls that function with the bindings a Worker's eval script has as globals: how
 * the trusted domain, and a domU under the inspector, run the supervisor (not compiled through
 * node:vm: see the rule above).
 */
export function supervisorCall(fn: string): string {
  return `${fn}(${BINDINGS});\n`;
}

/** The supervisor's code as a domU worker receives it (its workerData `code`). */
export interface SupervisorCode {
  /** The bundle as a function (supervisorFunction, of image/supervisor-image.ts's bundle). */
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
// and used under the same flags in the hypervisor's process and in every cell. So are the flags
// every pvkit process runs with (realm/v8-flags.ts).
for (const flag of ["--expose-gc", ...${JSON.stringify(PROCESS_V8_FLAGS)}]) require("node:v8").setFlagsFromString(flag);
const { Script } = require("node:vm");
const { workerData } = require("node:worker_threads");
const code = workerData.code;
const script = new Script(code.source, { filename: "pvkit-supervisor.js", cachedData: code.cache });
const rejected = code.cache ? script.cachedDataRejected : undefined;
// V8 has read the cache (~0.5 MB); workerData, which keeps it, lives as long as the worker.
delete code.cache;
Object.defineProperty(globalThis, ${JSON.stringify(HOOK)}, {
  value: { rejected, cache: () => script.createCachedData() },
  configurable: true,
});
script.runInThisContext()(${BINDINGS});
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
