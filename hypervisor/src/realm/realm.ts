/**
 * A domU's realm: the worker is locked down (SES: every intrinsic frozen, eval and Function confined
 * to the compartment that calls them) and the guest image is evaluated in a Compartment whose global
 * object holds the JavaScript language, TextEncoder/TextDecoder, and the endowments below — no
 * `process`, no `require`, no `import()`, no Node object at all. What the guest can reach is what
 * this file hands it; that list is the whole of its authority.
 *
 * Rule: lock down once per worker, after the allocation gate is installed and before anything else
 * of the guest runs; make one realm per worker, for its one domain (a pooled worker's realm has
 * also run the kernel's rehearsal boot, on a machine of its own, before that domain:
 * rehearsal.ts). Everything used after lockdown() must have been captured before it.
 */
/// <reference types="ses" />
import { MACHINE_GLOBAL, type PvkitMachine } from "@pvkit/abi/machine";
import {
  coarsePerformance,
  earlyConsole,
  guestAtomics,
  guestTimers,
  type HostFunctions,
} from "./endowments.ts";

/** What a realm needs from the host: timer functions and the clock, captured before lockdown. */
export interface RealmHost {
  host: HostFunctions;
  hostNow: () => number;
}

/** What a realm gets once it has its domain. */
export interface RealmDomain {
  machine: PvkitMachine;
  /** Wraps every call from the host's event loop into guest code. */
  enter: (run: () => void) => void;
  /** The TSC resolution the realm's clock keeps to. */
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
 * A fresh compartment for one domain, made before or after the domain exists (a pooled worker
 * makes it ahead, with the kernel image evaluated in it). Until attach() names the domain, the
 * endowments that belong to one wait: no machine, a console that drops, timers that run their
 * callbacks without the supervisor's bookkeeping (the kernel's top level sets none). attach() may
 * come twice — first with the rehearsal's machine, then with the domain's — and the second replaces
 * all the first set: the machine global, the clock's zero and resolution, the timers' wrap.
 */
export function makeRealm(o: RealmHost) {
  let enter: (run: () => void) => void = (run) => run();
  let machine: PvkitMachine | undefined;
  const clock = coarsePerformance(o.hostNow);
  const timers = guestTimers(o.host, (run) => enter(run));
  const globals = {
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
    performance: harden(clock.clock),
    console: harden(earlyConsole(() => machine)),
    ...harden(timers),
  };
  const compartment = new Compartment({ globals, __options__: true });
  const evaluate = (code: string): unknown =>
    compartment.evaluate(code, {
      // The image is a bundle: a `<!--` or `import(` inside a string would make SES refuse all of
      // it. These rewrite such text harmlessly (`import(` becomes a call to an undefined `__import__`).
      __evadeHtmlCommentTest__: true,
      __evadeImportExpressionTest__: true,
    });
  return {
    /** Evaluates the kernel image (image/kernel-image.ts) and returns its value. */
    loadKernel: (code: string): unknown => evaluate(code),
    /** Gives the realm its domain: the machine as `pvkitMachine`, the clock's zero, the timers' wrap. */
    attach(d: RealmDomain): void {
      machine = harden(d.machine);
      enter = d.enter;
      clock.start(d.tscResolutionNs);
      Object.defineProperty(compartment.globalThis, MACHINE_GLOBAL, {
        value: machine,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    },
    /**
     * Runs the domain's image: a whole image, or a program's linked image called with the evaluated
     * `kernel`. Resolves when its top level has run; rejects with what it throws.
     */
    async run(image: string, kernel?: unknown): Promise<void> {
      const value = evaluate(image);
      await (kernel === undefined ? value : (value as (k: unknown) => Promise<void>)(kernel));
    },
  };
}

export type Realm = ReturnType<typeof makeRealm>;
