/**
 * The supervisor: the first and only trusted code in a domain's worker. It builds the domain's
 * machine (trap instruction, mail, clock) and then either
 *   - a domU: installs the allocation gate, locks the worker down and runs the guest image in a
 *     compartment that has no host authority (realm.ts), or
 *   - the privileged domain (dom0): loads TypeScript support and imports its kernel with the host's
 *     full Node, as the driver domain must.
 * A guest failure it sees (an uncaught error, the memory bound) is reported to the hypervisor in one
 * message and ends the worker. Built into one script by hypervisor/src/image and run with eval.
 */
import { readlinkSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";
import { MACHINE_GLOBAL } from "@pvkit/abi/machine";
import { SUPERVISOR_CRASH_EXIT, type SupervisorBoot, type SupervisorReport } from "./boot-data.ts";
import { installSpecFreeze } from "./freeze.ts";
import { installAllocationGate } from "./gate.ts";
import { buildMachine } from "./machine.ts";
import { cellWakes, type Futex, type Wakes } from "./wakes.ts";
import { openCellBell } from "./cell-bell.ts";
import { frameViews, type ShmMaps } from "./frame-views.ts";
import { wakeSampler } from "./doze.ts";
import {
  CHECKPOINTS,
  MEASURED_KIB,
  SLEEPING_SINCE,
  SLEPT_NS,
  THREAD_ID,
  vcpuPageViews,
} from "./vcpu-page.ts";

const { boot } = workerData as { boot: SupervisorBoot };
const {
  status: { words: status },
  sampler,
} = vcpuPageViews(boot.vcpuPage);
// Views of frames handed over after boot, made here from the machine's memory (the mail ring names
// them by number). The addon is the supervisor's: the realm never sees it.
const shm = require(boot.arena.addon) as Futex & ShmMaps;
const views = frameViews(shm, boot.arena);
/** In a cell the hypervisor is another process: wake-ups go by futex and the cell's bell (wakes.ts). */
function cellWakesOf(): Wakes | undefined {
  if (boot.bellFd === undefined) return undefined;
  const { words, status } = vcpuPageViews(boot.vcpuPage);
  const doorbell = new Int32Array(boot.doorbell, 0, 2);
  return cellWakes(words, status.words, doorbell, shm, openCellBell(boot.bellFd));
}
const wakes = cellWakesOf();
const exit = process.exit.bind(process);
const post = (r: SupervisorReport) => parentPort!.postMessage(r);
const hrtime = process.hrtime.bigint.bind(process.hrtime);
const memoryUsage = process.memoryUsage.bind(process);
const hostNow = performance.now.bind(performance);
let crashed = false;

/** One line for anything a guest may throw (its getters may throw too). */
function describe(e: unknown): string {
  try {
    if (e instanceof Error) return `${e.name}: ${e.message}${e.stack ? `\n${e.stack}` : ""}`;
    return String(e);
  } catch {
    return "a value that cannot be shown";
  }
}

/** Reports `reason` to the hypervisor and ends this worker: the domain crashed. */
function crash(reason: string): never {
  if (!crashed) {
    crashed = true;
    post({ t: "crash", reason: reason.slice(0, 4000) });
  }
  exit(SUPERVISOR_CRASH_EXIT);
  throw new Error("unreachable");
}

process.on("uncaughtException", (e) => crash(`uncaught ${describe(e)}`));

// This thread's OS id, so the hypervisor can read its page faults (/proc/self/task/<tid>/stat).
try {
  const tid = Number(readlinkSync("/proc/thread-self").split("/")[2]);
  if (Number.isInteger(tid)) Atomics.store(status, THREAD_ID, tid);
} catch {
  /* not Linux: the memory watch does without */
}
process.on("unhandledRejection", (e) => crash(`unhandled rejection: ${describe(e)}`));

/** A gc() for the allocation gate: V8 only exposes one to contexts made after --expose-gc. */
function obtainGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === "function") return g;
  try {
    setFlagsFromString("--expose-gc");
    const fn = runInNewContext("gc") as unknown;
    return typeof fn === "function" ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}

async function openInspector(): Promise<void> {
  if (!boot.inspectorPort) return;
  const inspector = await import("node:inspector");
  inspector.open(boot.inspectorPort, "127.0.0.1", false);
  process.stderr.write(`dom${boot.domid}: debugger listening on ${inspector.url()}\n`);
  if (!boot.inspectorWait) return;
  // --inspect-brk: nothing of the domain runs until a debugger sends Runtime.runIfWaitingForDebugger.
  // The thread blocks here; to the watchdog that is sleep, not work, as a synchronous trap's wait is
  // (the status block's sleep clock, realm/vcpu-page.ts), so a domain waiting for you is not "hung".
  const big = vcpuPageViews(boot.vcpuPage).status.big;
  const since = hrtime();
  Atomics.store(big, SLEEPING_SINCE, since);
  try {
    inspector.waitForDebugger();
  } finally {
    Atomics.store(big, SLEEPING_SINCE, 0n);
    Atomics.add(big, SLEPT_NS, hrtime() - since);
    wakeSampler(sampler);
  }
}

async function runTrusted(): Promise<void> {
  const { machine } = buildMachine(boot, views, () => undefined, hrtime, wakes);
  (globalThis as Record<string, unknown>)[MACHINE_GLOBAL] = machine;
  const tsx = (await import(boot.tsxApi!)) as { register: () => void };
  tsx.register();
  await import(boot.entry!);
}

async function runRealm(): Promise<void> {
  installSpecFreeze(); // before SES loads: it hardens with whatever Object.freeze is then
  const MiB = 1024 * 1024;
  const gate = installAllocationGate({
    limitBytes: boot.jsLimitBytes,
    measure: () => {
      const m = memoryUsage();
      return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
    },
    gc: obtainGc(),
    now: performance.now.bind(performance),
    measured: (used) => Atomics.store(status, MEASURED_KIB, Math.min(2 ** 31 - 1, Math.ceil(used / 1024))),
    over: (used, limit) =>
      crash(
        `out of memory: ${(used / MiB).toFixed(1)} MiB of heap and ArrayBuffers, bound ${(limit / MiB).toFixed(0)} MiB`,
      ),
  });
  const host = {
    setTimeout,
    clearTimeout: (t: unknown) => clearTimeout(t as NodeJS.Timeout),
    setInterval,
    clearInterval: (t: unknown) => clearInterval(t as NodeJS.Timeout),
    setImmediate,
    clearImmediate: (t: unknown) => clearImmediate(t as NodeJS.Immediate),
    queueMicrotask,
  };
  // SES is loaded only now, after the gate: its shims capture ArrayBuffer methods when loaded, and
  // must capture the gated ones.
  const { lockdownWorker, runImage } = await import("./realm.ts");
  lockdownWorker();
  const { machine } = buildMachine(boot, views, gate.tick, hrtime, wakes);
  await runImage({
    machine,
    // --inspect-brk stops, as node's does, at the first statement of the domain's own code: a
    // debugger that enabled breakpoints pauses there (source shown, breakpoints can be set); with
    // none attached the statement does nothing.
    image: boot.inspectorWait ? `debugger;${boot.image!}` : boot.image!,
    host,
    hostNow,
    tscResolutionNs: boot.tscResolutionNs,
    enter: (run) => {
      Atomics.add(status, CHECKPOINTS, 1);
      wakeSampler(sampler); // guest code runs: a dozing activity sampler looks again (doze.ts)
      gate.tick();
      run();
    },
  });
}

async function main(): Promise<void> {
  await openInspector();
  if (boot.mode === "trusted") await runTrusted();
  else await runRealm();
}

main().catch((e: unknown) =>
  crash(`${boot.mode === "realm" ? "guest image" : "kernel"} failed to start: ${describe(e)}`),
);
