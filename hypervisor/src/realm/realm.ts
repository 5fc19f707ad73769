/**
 * A domU's realm: the worker is locked down (SES: every intrinsic frozen, eval and Function confined
 * to the compartment that calls them) and the guest image is evaluated in a Compartment whose global
 * object holds the JavaScript language, TextEncoder/TextDecoder, and the endowments below — no
 * `process`, no `require`, no `import()`, no Node object at all. What the guest can reach is what
 * this file hands it; that list is the whole of its authority.
 *
 * Rule: call once per worker, after the allocation gate is installed and before anything else of
 * the guest runs. Everything used after lockdown() must have been captured before it.
 */
/// <reference types="ses" />
import type { PvkitMachine } from "@pvkit/abi/machine";
import {
  coarsePerformance,
  earlyConsole,
  guestAtomics,
  guestTimers,
  type HostFunctions,
} from "./endowments.ts";

export interface RealmInput {
  machine: PvkitMachine;
  image: string;
  host: HostFunctions;
  /** Wraps every call from the host's event loop into guest code. */
  enter: (run: () => void) => void;
  /** The host's performance.now and the TSC resolution the realm's clock keeps to. */
  hostNow: () => number;
  tscResolutionNs: number;
}

/** Freezes the worker's intrinsics. Options are explicit: SES would otherwise read LOCKDOWN_* env. */
export function lockdownWorker(): void {
  // SES's prebuilt script (the `require` export): its ES module sources do not survive re-bundling.
  require("ses");
  lockdown({
    errorTaming: "unsafe", // guest stacks stay readable in crash reports (no secrets cross them)
    errorTrapping: "none", // the supervisor reports uncaught errors itself
    unhandledRejectionTrapping: "none",
    reporting: "none",
    regExpTaming: "safe",
    localeTaming: "safe",
    consoleTaming: "unsafe", // the host's console is not the guest's; it is never endowed
    overrideTaming: "moderate",
    stackFiltering: "concise",
    domainTaming: "safe",
    evalTaming: "safe-eval",
  });
  // SES leaves SharedArrayBuffer out of compartments (a timing channel) and so does not freeze it; a
  // domU's frames are SharedArrayBuffers, whose prototype the supervisor shares: freeze it. (The
  // realm's Atomics is a copy made by guestAtomics(), so the supervisor's own stays as it is.)
  harden(SharedArrayBuffer);
}

/**
 * Evaluates the guest image in a fresh compartment. Resolves when its top level has run (a kernel
 * image's returns at once; a raw guest's may await); rejects with what it throws.
 */
export async function runImage(o: RealmInput): Promise<void> {
  const timers = guestTimers(o.host, o.enter);
  const globals = {
    pvkitMachine: harden(o.machine),
    Atomics: harden(guestAtomics()),
    SharedArrayBuffer,
    // The start compartment's Date and Math: wall time in milliseconds and a working Math.random
    // (a compartment's own throw). Neither is a fine-grained clock; rdtsc is, and it is coarsened.
    Date,
    Math,
    // SES keeps the float typed arrays out of compartments only for the NaN-bit side channel, which
    // a guest has anyway through its shared memory; programs need them.
    Float32Array,
    Float64Array,
    performance: harden(coarsePerformance(o.hostNow, o.tscResolutionNs)),
    console: harden(earlyConsole(o.machine)),
    ...harden(timers),
  };
  const compartment = new Compartment({ globals, __options__: true });
  await compartment.evaluate(o.image, {
    // The image is a bundle: a `<!--` or `import(` inside a string would make SES refuse all of it.
    // These rewrite such text harmlessly (`import(` becomes a call to an undefined `__import__`).
    __evadeHtmlCommentTest__: true,
    __evadeImportExpressionTest__: true,
  });
}
