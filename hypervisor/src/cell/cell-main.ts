/**
 * A cell: a process of its own that runs one domU's worker, so that what kills a process — V8
 * aborting on one allocation past the heap limit, a native crash — kills that domain alone, not the
 * hypervisor, dom0 or any other domain. The hypervisor spawns it ahead of need (cell-host.ts) with
 * the machine's memory (a memfd) as fd 4 and an IPC channel; bundled into one script, run with
 * `node -e`.
 *
 * It maps the frames its domain is handed, a run of its memory at a time (realm/frame-views.ts),
 * and makes their views (here, in the
 * process the worker runs in: a notify finds its waiter only through the backing store it waits
 * on), starts the worker with the same supervisor a domain in the hypervisor's process gets — with
 * the cell's bell, fd 5, for wake-ups (realm/wakes.ts) — writes the worker's activity into its vCPU
 * page while it is active (activity-sampler.ts), reports how it ends, and ends with it. A pooled
 * cell (hypervisor/src/pool) starts its worker before it has a domain, with nothing mapped, and
 * hands it the domain's boot data when it gets one. Rule: it takes input from the hypervisor alone.
 */
import { Worker } from "node:worker_threads";
import type { FromCell, ToCell } from "./protocol.ts";
import type { SupervisorAssign, SupervisorReport } from "../realm/boot-data.ts";
import { sampleActivity } from "./activity-sampler.ts";
import { mapFrames, type ShmMaps } from "../realm/frame-views.ts";
import type { Shm } from "../native/shm.ts";
import { HeapTrimmer } from "../memory/heap-trim.ts";
import { dozing } from "../realm/doze.ts";
import { vcpuPageViews } from "../realm/vcpu-page.ts";
import { SUPERVISOR_STUB, supervisorCall, type SupervisorCode } from "../realm/code-cache.ts";

const ADDON = process.env.PVKIT_SHM_ADDON!;
const shm = require(ADDON) as ShmMaps & Pick<Shm, "mallocTrim">;
/** The machine's memory, fd 4: only what the domain is handed gets mapped (realm/frame-views.ts). */
const arena = { addon: ADDON, fd: 4 };
const view = (mfn: number) => mapFrames(shm, arena.fd, { mfn, pages: 1 });
const send = (m: FromCell, then: () => void = () => {}) => process.send!(m, then);

/** The supervisor (a function: realm/code-cache.ts), from "init" until the worker is started. */
let supervisor: string | undefined;
let initialised = false;
/** V8's code cache for the supervisor, if the hypervisor sent one (realm/code-cache.ts). */
let codeCache: Uint8Array | undefined;
let started = false;
/** The pooled worker said it is ready (the heap trim's first window). */
let readied = false;
/** The cell's worker: started at "prepare" (a pooled cell) or at "start". */
let worker: Worker | undefined;
/** Ends the activity sampler's doze (the hypervisor saw the worker's thread run). */
let wakeSampler = () => {};
/** Whether the domain idles (its sampler dozes); a pooled worker, with no domain yet, does. */
let domainIdles = () => true;
/**
 * Gives the C heap's free pages back after the worker is ready (a pooled cell), the domain starts,
 * and it idles in its first minutes, while V8 tidies the new isolate (memory/heap-trim.ts): ~5 MiB
 * of an idle cell's ~21. A long-lived domain is not trimmed for the rest of its life.
 */
const heapTrim = new HeapTrimmer(
  () => shm.mallocTrim?.(),
  () => domainIdles(),
);

/** Starts the worker with `workerData`; the cell reports how it ends, then ends with it. */
function run(workerData: Record<string, unknown>, options: Record<string, unknown>): Worker {
  const code: SupervisorCode = codeCache
    ? { source: supervisor!, cache: codeCache }
    : { source: supervisor! };
  // A domain under the inspector runs the bundle as it is: the inspector's machinery imports
  // modules, which code compiled through node:vm (the cache stub) cannot without a loader.
  const inspected = (workerData as { boot?: { inspectorPort?: number } }).boot?.inspectorPort !== undefined;
  const w = inspected
    ? new Worker(supervisorCall(supervisor!), { ...options, eval: true, workerData })
    : new Worker(SUPERVISOR_STUB, { ...options, eval: true, workerData: { ...workerData, code } });
  // The worker has its own copies: this process need not keep ~1 MB for the cell's life.
  supervisor = undefined;
  codeCache = undefined;
  w.on("message", (report: SupervisorReport) => {
    // A pooled worker is ready (its boot's garbage freed, the C heap worth trimming) long before
    // its sampler first dozes, which is only once it has a domain. That counts once, before the
    // domain starts: a worker that escaped its realm may send anything, this again and again.
    if ((report as Partial<SupervisorReport> | null)?.t === "ready" && !readied && !started) {
      readied = true;
      heapTrim.start();
    }
    send({ t: "report", report });
  });
  w.on("error", (e: Error & { code?: string }) =>
    send({ t: "error", code: e.code, reason: `uncaught ${e.name}: ${e.message}` }),
  );
  // The cell ends with its worker, once the hypervisor has heard how.
  w.on("exit", (code) => send({ t: "exit", code }, () => process.exit(0)));
  return w;
}

function start(m: Extract<ToCell, { t: "start" }>): void {
  started = true;
  const page = view(m.boot.vcpuPage);
  const boot = {
    ...m.boot,
    arena,
    // The domain's memory: one mapping and one view per run.
    runs: m.boot.runs.map((r) => ({ pfn: r.pfn, buf: mapFrames(shm, arena.fd, r) })),
    sharedInfo: view(m.boot.sharedInfo),
    vcpuPage: page,
    doorbell: view(m.boot.doorbell),
    bellFd: 5,
  };
  // A pooled cell's worker is ready and waits for exactly this one message (realm/supervisor.ts).
  if (worker) worker.postMessage({ t: "assign", boot } satisfies SupervisorAssign);
  else worker = run({ boot }, m.options);

  // The worker's work and idleness, for the hypervisor's CPU account and watchdog: only this
  // process can ask a worker of its own. Sampled while it works, not while it idles.
  const { sampler } = vcpuPageViews(page);
  domainIdles = () => dozing(sampler);
  heapTrim.start();
  wakeSampler = sampleActivity(worker, page, () => heapTrim.activity());
}

process.on("message", (m: ToCell) => {
  if (m.t === "init") {
    initialised = true;
    supervisor = m.supervisor;
    if (m.cache) codeCache = Buffer.from(m.cache, "base64");
  } else if (m.t === "code-cache" && !worker) codeCache = Buffer.from(m.cache, "base64");
  // A pooled cell: the worker prepares with no domain (no frame is mapped here until "start").
  else if (m.t === "prepare" && initialised && !worker && !started) worker = run({ pool: m.pool }, m.options);
  else if (m.t === "start" && initialised && !started) start(m);
  else if (m.t === "sample") wakeSampler();
});

// The hypervisor going away ends the cell.
process.on("disconnect", () => process.exit(0));
