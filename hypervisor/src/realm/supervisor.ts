/**
 * The supervisor: the first and only trusted code in a domain's worker. It builds the domain's
 * machine (trap instruction, mail, clock) and then either
 *   - a domU: installs the allocation gate, locks the worker down and runs the guest image in a
 *     compartment that has no host authority (realm.ts), or
 *   - the privileged domain (dom0): loads TypeScript support and imports its kernel with the host's
 *     full Node, as the driver domain must.
 * A guest failure it sees (an uncaught error, the memory bound) is reported to the hypervisor in one
 * message and ends the worker. Built into one script by hypervisor/src/image and run with eval.
 *
 * A domU's start has two halves: what depends on no domain (the gate, SES, lockdown: ~45 ms of a
 * cold start) and what does (its machine, its image). A pooled worker (hypervisor/src/pool) does the
 * first half with no domain at all — no frame, no page, no id — evaluates pvkit's kernel image too
 * and boots it once on a machine of its own (rehearsal.ts: so that V8 has compiled the boot path),
 * then the second half when its one domain is assigned, with only the program's image left to
 * evaluate; a cold start does both in a row and evaluates one whole image.
 */
import { readlinkSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";
import { MACHINE_GLOBAL } from "@pvkit/abi/machine";
import {
  SUPERVISOR_CRASH_EXIT,
  type PooledBoot,
  type SupervisorAssign,
  type SupervisorBoot,
  type SupervisorReport,
} from "./boot-data.ts";
import { installSpecFreeze } from "./freeze.ts";
import { installAllocationGate } from "./gate.ts";
import { rehearse } from "./rehearsal.ts";
import { buildMachine } from "./machine.ts";
import { cellWakes, localWakes, type Futex, type ServiceBellSend } from "./wakes.ts";
import { openCellBell, type BellWatch } from "./cell-bell.ts";
import { frameViews, type ShmMaps } from "./frame-views.ts";
import { wakeSampler } from "./doze.ts";
import { takeStubHook } from "./code-cache.ts";
import {
  CHECKPOINTS,
  MEASURED_KIB,
  SLEEPING_SINCE,
  SLEPT_NS,
  THREAD_ID,
  vcpuPageViews,
} from "./vcpu-page.ts";

const data = workerData as { boot?: SupervisorBoot; pool?: PooledBoot; cacheMaker?: PooledBoot };
/** How this worker was compiled (realm/code-cache.ts): taken before anything else can see it. */
const stub = takeStubHook();
// The shared-memory addon and, in a cell, the bell: loaded and opened before lockdown, in a pooled
// worker as in any. Neither names a domain: the addon maps frames only when a boot names them.
const pooled = data.pool ?? data.cacheMaker;
const shm = require(pooled?.addon ?? data.boot!.arena.addon) as Futex & ShmMaps & BellWatch & ServiceBellSend;
const bellFd = pooled ? pooled.bellFd : data.boot!.bellFd;
const bell = bellFd === undefined ? undefined : openCellBell(bellFd, shm);
/** With cells off, a domU's ring for the trap service (realm/wakes.ts, localWakes). */
const serviceBell = pooled ? pooled.serviceBell : data.boot?.serviceBell;
/** EAGAIN (Linux): the service's bell holds bytes enough to wake it already. */
const EAGAIN = 11;
const ringService =
  serviceBell === undefined
    ? undefined
    : () => {
        const errno = shm.bellSend(serviceBell);
        return errno === 0 || errno === EAGAIN;
      };
const exit = process.exit.bind(process);
const post = (r: SupervisorReport) => parentPort!.postMessage(r);
const hrtime = process.hrtime.bigint.bind(process.hrtime);
const memoryUsage = process.memoryUsage.bind(process);
const hostNow = performance.now.bind(performance);
let crashed = false;
/** The domain's vCPU status words, once this worker has a domain (a pooled one has none yet). */
let status: Int32Array | undefined;

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

process.on("unhandledRejection", (e) => crash(`unhandled rejection: ${describe(e)}`));

/** This thread's OS id, for the hypervisor's /proc reads (page faults, the doze backstop). */
const threadId = (() => {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/")[2]);
    return Number.isInteger(tid) ? tid : undefined;
  } catch {
    return undefined; // not Linux: the memory watch does without
  }
})();

/** What every start with a domain does first: the vCPU page's views, the thread id in it. */
function attach(boot: SupervisorBoot) {
  const page = vcpuPageViews(boot.vcpuPage);
  status = page.status.words;
  if (threadId !== undefined) Atomics.store(status, THREAD_ID, threadId);
  // Views of frames handed over after boot, made here from the machine's memory (the mail ring
  // names them by number). The addon is the supervisor's: the realm never sees it.
  const views = frameViews(shm, boot.arena);
  // In a cell the hypervisor is another process: wake-ups go by futex and the cell's bell (wakes.ts).
  // In its process, V8's Atomics, and a domU rings the trap service's bell.
  const doorbell = new Int32Array(boot.doorbell, 0, 2);
  const wakes = bell
    ? cellWakes(page.words, page.wake, doorbell, shm, bell)
    : localWakes(page.words, page.wake, doorbell, ringService);
  return { page, views, wakes };
}

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

async function openInspector(boot: SupervisorBoot): Promise<void> {
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
    wakeSampler(vcpuPageViews(boot.vcpuPage).sampler);
  }
}

async function runTrusted(boot: SupervisorBoot): Promise<void> {
  const { views, wakes } = attach(boot);
  const { machine } = buildMachine(boot, views, () => undefined, hrtime, wakes);
  (globalThis as Record<string, unknown>)[MACHINE_GLOBAL] = machine;
  const tsx = (await import(boot.tsxApi!)) as { register: () => void };
  tsx.register();
  await import(boot.entry!);
}

/**
 * The part of a domU's start that depends on no domain, only on its bound: the allocation gate,
 * SES, lockdown, the realm and, for a program, the kernel image evaluated in it (`kernel`: the
 * image's text). A pooled worker does it ahead of need; otherwise it comes first.
 */
async function prepareRealm(jsLimitBytes: number, kernel?: string) {
  installSpecFreeze(); // before SES loads: it hardens with whatever Object.freeze is then
  const MiB = 1024 * 1024;
  const gate = installAllocationGate({
    limitBytes: jsLimitBytes,
    measure: () => {
      const m = memoryUsage();
      return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
    },
    gc: obtainGc(),
    now: performance.now.bind(performance),
    measured: (used) => {
      if (status) Atomics.store(status, MEASURED_KIB, Math.min(2 ** 31 - 1, Math.ceil(used / 1024)));
    },
    over: (used, limit) =>
      crash(
        `out of memory: ${(used / MiB).toFixed(1)} MiB of heap and ArrayBuffers, bound ${(limit / MiB).toFixed(0)} MiB`,
      ),
  });
  // SES is loaded only now, after the gate: its shims capture ArrayBuffer methods when loaded, and
  // must capture the gated ones.
  const { lockdownWorker, makeRealm } = await import("./realm.ts");
  lockdownWorker();
  const realm = makeRealm({ host, hostNow });
  return { gate, realm, kernel: kernel === undefined ? undefined : realm.loadKernel(kernel) };
}

const host = {
  setTimeout,
  clearTimeout: (t: unknown) => clearTimeout(t as NodeJS.Timeout),
  setInterval,
  clearInterval: (t: unknown) => clearInterval(t as NodeJS.Timeout),
  setImmediate,
  clearImmediate: (t: unknown) => clearImmediate(t as NodeJS.Immediate),
  queueMicrotask,
};

/**
 * Takes an image's text out of the boot data, which workerData keeps for as long as the worker
 * lives. Once evaluated, the text's only needed copy is the realm's compiled script's source (V8
 * compiles functions lazily from it): left here it was a second copy, 1 MiB for a whole image, in
 * every domain.
 */
function take<T extends object, K extends keyof T>(o: T, key: K): T[K] {
  const text = o[key];
  delete o[key];
  return text;
}

/**
 * The domain's own part of a domU's start: its machine, then its image in the realm — a whole image,
 * or a program's linked image, called with the kernel evaluated in prepareRealm.
 */
async function runRealm(boot: SupervisorBoot, prepared: Awaited<ReturnType<typeof prepareRealm>>) {
  const { page, views, wakes } = attach(boot);
  const { gate, realm, kernel } = prepared;
  if (boot.kernelId !== undefined && kernel === undefined)
    crash("a program image linked to a kernel image came to a worker that has none");
  const { machine } = buildMachine(boot, views, gate.tick, hrtime, wakes);
  realm.attach({
    machine,
    tscResolutionNs: boot.tscResolutionNs,
    enter: (run) => {
      Atomics.add(page.status.words, CHECKPOINTS, 1);
      wakeSampler(page.sampler); // guest code runs: a dozing activity sampler looks again (doze.ts)
      gate.tick();
      run();
    },
  });
  // --inspect-brk stops, as node's does, at the first statement of the domain's own code: a
  // debugger that enabled breakpoints pauses there (source shown, breakpoints can be set); with
  // none attached the statement does nothing.
  const text = take(boot, "image")!;
  await realm.run(
    boot.inspectorWait ? `debugger;${text}` : text,
    boot.kernelId === undefined ? undefined : kernel,
  );
}

/** The rehearsal's hang guard: it takes milliseconds; a kernel that has not shut down by then never will. */
const REHEARSAL_GUARD_MS = 30_000;

/**
 * A pooled worker: prepares, says it is ready, and waits for the one domain it will ever run. A
 * second assignment finds no listener and is lost; one this worker was not prepared for (another
 * bound, a debugger wanted) is refused by crashing, never run with the wrong set-up.
 */
async function runPooled(pool: PooledBoot): Promise<void> {
  // V8 drops the bytecode of functions that have not run for a few collections, and an idle worker
  // still collects: what lockdown compiled (SES's harden, the compartment's evaluator) would be
  // compiled again when the domain comes, ~20 ms of its start. (A V8 flag is the process's: in a
  // cell, this worker's alone; with cells off, the host's, which only keeps more bytecode.)
  setFlagsFromString("--no-flush-bytecode");
  const prepared = await prepareRealm(pool.jsLimitBytes, pool.kernel && take(pool.kernel, "code"));
  if (prepared.kernel !== undefined) {
    let guard: NodeJS.Timeout | undefined;
    await rehearse(
      prepared.realm,
      prepared.kernel,
      hrtime,
      new Promise((r) => (guard = setTimeout(r, REHEARSAL_GUARD_MS))),
      prepared.gate.tick,
    ).catch((e: unknown) => crash(`rehearsal: ${e instanceof Error ? e.message : describe(e)}`));
    clearTimeout(guard);
  }
  const assigned = new Promise<unknown>((resolve) => parentPort!.once("message", resolve));
  post({ t: "ready", codeCache: stub?.rejected === undefined ? "none" : stub.rejected ? "refused" : "used" });

  const m = (await assigned) as Partial<SupervisorAssign> | null;
  const boot = m?.t === "assign" ? m.boot : undefined;
  if (
    !boot ||
    boot.mode !== "realm" ||
    boot.jsLimitBytes !== pool.jsLimitBytes ||
    boot.inspectorPort ||
    (boot.kernelId !== undefined && boot.kernelId !== pool.kernel?.id)
  )
    crash("a pooled worker was assigned a domain it was not prepared for");
  await runRealm(boot, prepared);
}

/**
 * The code-cache maker (image/supervisor-code.ts): a worker that will never run a domain locks
 * down as a domU's would — compiling what lockdown runs — and hands V8's code cache of the
 * supervisor to the hypervisor, which then ends it.
 */
async function makeCodeCache(o: PooledBoot): Promise<void> {
  await prepareRealm(o.jsLimitBytes);
  if (!stub) return crash("the code-cache maker was not started through the supervisor's stub");
  post({ t: "code-cache", data: stub.cache() });
}

async function main(): Promise<void> {
  if (data.cacheMaker) return makeCodeCache(data.cacheMaker);
  if (data.pool) return runPooled(data.pool);
  const boot = data.boot!;
  await openInspector(boot);
  if (boot.mode === "trusted") await runTrusted(boot);
  else await runRealm(boot, await prepareRealm(boot.jsLimitBytes));
}

main().catch((e: unknown) =>
  crash(`${data.boot?.mode === "trusted" ? "kernel" : "guest image"} failed to start: ${describe(e)}`),
);
