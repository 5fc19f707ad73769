/**
 * Starting a domain's vCPU: a worker_threads Worker (its own V8 isolate and heap, capped by
 * resourceLimits) that runs the supervisor script (hypervisor/src/realm). The hypervisor passes views of
 * machine frames only — the domain's memory (one view per run of consecutive frames), its shared_info frame, the vCPU's page (whose mail ring
 * names the frames handed over later), the machine doorbell — and, for a domU, its guest image. A domU
 * worker gets an empty environment and no Node flags of the host's: nothing of the host's
 * configuration reaches it.
 */
import { Worker } from "node:worker_threads";
import {
  SUPERVISOR_CRASH_EXIT,
  type ArenaRef,
  type SupervisorAssign,
  type SupervisorBoot,
  type HostRelease,
  type SupervisorReport,
} from "../realm/boot-data.ts";
import type { CellBoot } from "../cell/protocol.ts";
import { runsOf, type RunRef } from "../realm/memory-runs.ts";
import { SUPERVISOR_STUB, supervisorCall, type SupervisorCode } from "../realm/code-cache.ts";
import { workerActivity } from "../realm/vcpu-page.ts";
import type { Domain } from "./domain.ts";

/** The kernel every privileged domain imports unless a test names another entry. */
export const GUEST_KERNEL_URL = new URL("../../../guest-kernel/src/arch/entry.ts", import.meta.url).href;

/**
 * A domain's worker, wherever it runs: in the hypervisor's process (a Worker here) or in a cell
 * process (hypervisor/src/cell). The hypervisor needs only these three things of it.
 */
export interface DomainWorker {
  terminate(): Promise<unknown>;
  /**
   * Its work and idleness since it started, in ms (undefined until it runs): vcpu-page.ts's
   * workerActivity, taken in the process it runs in.
   */
  activity(): { working: number; idle: number } | undefined;
  /** The OS process it runs in ("self": the hypervisor's), for /proc reads. */
  readonly pid: number | "self";
  /** In a cell: ends its activity sampler's doze, so it takes a reading now (realm/doze.ts). */
  poke?(): void;
  /**
   * A trusted domain's worker: asks it to let go of host resources (HostRelease) and resolves when
   * it says it has, or after `timeoutMs`.
   */
  release?(timeoutMs: number): Promise<void>;
}

/** A worker in the hypervisor's own process. */
export class LocalWorker implements DomainWorker {
  readonly pid = "self";
  constructor(
    readonly worker: Worker,
    private readonly status: BigInt64Array,
  ) {}
  terminate() {
    return this.worker.terminate();
  }
  release(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.worker.off("message", onMessage);
        this.worker.off("exit", done);
        resolve();
      };
      const onMessage = (m: SupervisorReport) => m?.t === "released" && done();
      const timer = setTimeout(done, timeoutMs);
      this.worker.on("message", onMessage);
      this.worker.once("exit", done);
      this.worker.postMessage({ t: "release" } satisfies HostRelease);
    });
  }
  activity() {
    return workerActivity(this.worker.performance.eventLoopUtilization(), this.status);
  }
}

export interface WorkerEvents {
  /** The domain crashed: an uncaught error, its memory bound, a supervisor report. */
  onError(d: Domain, reason: string): void;
  /** The worker ended without a report. */
  onExit(d: Domain, code: number): void;
  /** The worker is gone (after onError/onExit): what it held can be reused. */
  onGone(d: Domain): void;
}

export interface WorkerSpec {
  /** The supervisor as a function (image/supervisor-image.ts); the trusted domain runs supervisorCall of it. */
  supervisor: string;
  /** domU: the supervisor with V8's code cache, started through the stub (realm/code-cache.ts). */
  code?: SupervisorCode;
  arena: ArenaRef;
  /** A view of `pages` machine frames from `mfn` on, made in this process (a run of memory). */
  viewFrames: (mfn: number, pages: number) => SharedArrayBuffer;
  /** The machine doorbell's frame (the hypervisor's own view: workers must share its backing store). */
  doorbell: SharedArrayBuffer;
  /** The same frame's number (a cell makes its own view). */
  doorbellMfn: number;
  /** domU: the guest image; for a program's image linked to the kernel image, that one's id. */
  image?: { code: string; name: string; kernel?: { id: string } };
  /** dom0: tsx's registration API URL. */
  tsxApi: string;
  jsLimitBytes: number;
  /** How far above the bound V8's own heap limit sits (hypervisor.ts: heapHeadroomMiB). */
  heapHeadroomMiB: number;
  tscResolutionNs: number;
  /** A domU of this process (cells off): the trap service's bell (transport/service-bell.ts). */
  serviceBell?: number;
}

const MiB = 1024 * 1024;

/** V8's old-generation cap for a domain whose heap + ArrayBuffers may use `jsLimitBytes`. */
export function heapLimitMb(jsLimitBytes: number, headroomMiB = 0): number {
  return Math.max(32, Math.ceil(jsLimitBytes / MiB)) + headroomMiB;
}

/** `d`'s memory as runs of consecutive frames (realm/memory-runs.ts), by number. */
export function memoryRuns(d: Domain): RunRef[] {
  // The P2M iterates below max_pages in pfn order (domain/p2m.ts): one pass. Only pfns past it,
  // which may come in any order, send it to runsOf, which sorts.
  const runs: { pfn: number; mfn: number; pages: number }[] = [];
  let last: { pfn: number; mfn: number; pages: number } | undefined;
  let ordered = true;
  d.p2m.forEach((f, pfn) => {
    if (!ordered) return;
    if (last && pfn === last.pfn + last.pages && f.mfn === last.mfn + last.pages) last.pages++;
    else if (!last || pfn > last.pfn) runs.push((last = { pfn, mfn: f.mfn, pages: 1 }));
    else ordered = false;
  });
  return ordered ? runs : runsOf([...d.p2m].map(([p, fr]) => [p, fr.mfn] as const));
}

/** What a domain's worker is started with, less its memory (each caller adds its own kind). */
function bootWithoutMemory(d: Domain, spec: WorkerSpec): Omit<SupervisorBoot, "runs"> {
  const boot: Omit<SupervisorBoot, "runs"> = {
    domid: d.domid,
    privileged: d.privileged,
    arena: spec.arena,
    sharedInfo: d.sharedInfo!.buffer,
    vcpuPage: d.vcpu.page.buffer,
    doorbell: spec.doorbell,
    startInfoPfn: d.startInfoPfn,
    maxPages: d.maxPages,
    mode: d.privileged ? "trusted" : "realm",
    jsLimitBytes: spec.jsLimitBytes,
    tscResolutionNs: spec.tscResolutionNs,
  };
  if (spec.image) {
    boot.image = spec.image.code;
    boot.imageName = spec.image.name;
    if (spec.image.kernel) boot.kernelId = spec.image.kernel.id;
  } else {
    boot.entry = d.kernelUrl ?? GUEST_KERNEL_URL;
    boot.tsxApi = spec.tsxApi;
    if (d.programUrl) boot.programUrl = d.programUrl;
  }
  if (d.inspectorPort) boot.inspectorPort = d.inspectorPort;
  if (d.inspectorPort && d.inspectBrk) boot.inspectorWait = true;
  if (spec.serviceBell !== undefined) boot.serviceBell = spec.serviceBell;
  return boot;
}

/** What a domain's worker in this process is started with: its memory as one view per run. */
export function bootData(d: Domain, spec: WorkerSpec): SupervisorBoot {
  const runs = memoryRuns(d).map((r) => ({ pfn: r.pfn, buf: spec.viewFrames(r.mfn, r.pages) }));
  return { ...bootWithoutMemory(d, spec), runs };
}

/** The boot data a cell receives for `d`: runs and frames by number (the cell makes its own views). */
export function cellBootData(d: Domain, spec: WorkerSpec): CellBoot {
  const { arena: _arena, sharedInfo: _s, vcpuPage: _v, doorbell: _d, ...rest } = bootWithoutMemory(d, spec);
  return {
    ...rest,
    runs: memoryRuns(d),
    sharedInfo: d.sharedInfo!.mfn,
    vcpuPage: d.vcpu.page.mfn,
    doorbell: spec.doorbellMfn,
  };
}

/**
 * V8's young generation for a domain's worker: small. V8 starts marking the whole heap when the
 * old generation has little room left compared with what the young generation could promote into
 * it; a domain's heap is small (10-15 MB) and its limit sits a few MB above, so with a 16 MB young
 * generation it was always short of room and marked continuously — about ten full collections a
 * second in each guest moving TCP data, the collector's threads taking a third of the machine. With
 * 2 MB (V8's smallest: 1 gives the same) it collects the old generation a few times a minute and
 * pays with more scavenges, which are cheap when, as for network frames, almost everything is
 * garbage. Bulk TCP between two guests (64 MiB ×5, A/B on this machine): in cells 100 → 16 full
 * collections, 0.8-0.9 → 1.1-1.5 Gbit/s; cells off 0.8-0.9 → 1.4 Gbit/s. 4 MB helped only cells
 * off: a cell's heap limit leaves less room.
 */
const YOUNG_GENERATION_MB = 2;

/**
 * The Worker options of a domain's worker (`d`), or of a pooled domU worker (no domain yet): its
 * heap limits, an empty environment for a domU.
 */
export function workerOptions(
  d: Domain | undefined,
  spec: Pick<WorkerSpec, "jsLimitBytes" | "heapHeadroomMiB">,
) {
  return {
    eval: true,
    resourceLimits: {
      maxOldGenerationSizeMb: heapLimitMb(spec.jsLimitBytes, spec.heapHeadroomMiB),
      maxYoungGenerationSizeMb: YOUNG_GENERATION_MB,
    },
    name: d ? `dom${d.domid}-${d.name}` : "pvkit-pool",
    argv: [],
    execArgv: [],
    ...(d?.privileged ? {} : { env: {} }),
    stdout: false,
    stderr: false,
  };
}

/** Starts `d`'s worker in this process. */
export function startWorker(d: Domain, spec: WorkerSpec, events: WorkerEvents): LocalWorker {
  const boot = bootData(d, spec);
  // Under the inspector the bundle runs as it is (see cell-main.ts): no code cache for it.
  const w =
    spec.code && !d.inspectorPort
      ? new Worker(SUPERVISOR_STUB, { ...workerOptions(d, spec), workerData: { boot, code: spec.code } })
      : new Worker(supervisorCall(spec.supervisor), { ...workerOptions(d, spec), workerData: { boot } });
  return adoptWorker(d, w, spec, events);
}

/**
 * Gives `d` a pooled worker of this process (pool/local-pool.ts): its boot data goes over as the one
 * message the worker waits for; from here it is `d`'s worker like one started for it.
 */
export function assignWorker(d: Domain, w: Worker, spec: WorkerSpec, events: WorkerEvents): LocalWorker {
  w.postMessage({ t: "assign", boot: bootData(d, spec) } satisfies SupervisorAssign);
  w.ref(); // a domain's worker keeps the host's process alive; an idle pooled one did not
  return adoptWorker(d, w, spec, events);
}

/** Makes `w` `d`'s worker: its handle, and its end reported as the domain's. */
function adoptWorker(d: Domain, w: Worker, spec: WorkerSpec, events: WorkerEvents): LocalWorker {
  const handle = new LocalWorker(w, d.vcpu.statusViews.big);
  d.worker = handle;
  let report: string | undefined;
  w.on("message", (m: SupervisorReport) => {
    if (m?.t === "crash" && typeof m.reason === "string") report ??= m.reason;
  });
  w.on("error", (e: Error & { code?: string }) => {
    const reason =
      e.code === "ERR_WORKER_OUT_OF_MEMORY"
        ? `out of memory (JS heap limit ${heapLimitMb(spec.jsLimitBytes, spec.heapHeadroomMiB)} MiB)`
        : `uncaught ${e.name}: ${e.message}`;
    report ??= reason;
  });
  w.on("exit", (code) => {
    if (report !== undefined) events.onError(d, report);
    else if (code === SUPERVISOR_CRASH_EXIT) events.onError(d, "the supervisor ended the domain");
    else events.onExit(d, code);
    events.onGone(d);
  });
  return handle;
}
