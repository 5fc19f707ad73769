/**
 * What the hypervisor hands a domain's worker at start (its workerData): shared memory, the limits
 * the supervisor enforces, and either the guest image (a domU: it runs in a locked-down realm) or
 * the module to import (the privileged domain: trusted, with the host's full Node). Types only;
 * hypervisor/src/domain/worker.ts fills it and supervisor.ts reads it.
 */
import type { MemoryRun } from "./memory-runs.ts";

/**
 * The machine's memory as a worker finds it (realm/frame-views.ts): the shared-memory addon's path
 * (hypervisor/native), and either the arena its process has mapped whole (the hypervisor's process)
 * or the file to map its domain's runs and frames from (a cell).
 */
export type ArenaRef = { addon: string; id: number } | { addon: string; fd: number };

export interface SupervisorBoot {
  domid: number;
  privileged: boolean;
  /** Where the supervisor makes views of frames handed over later (the mail ring names them). */
  arena: ArenaRef;
  /**
   * In a cell (another process than the hypervisor's): the fd of the cell's bell, which with futexes
   * carries the wake-ups (realm/wakes.ts). Absent: the hypervisor's process, V8's Atomics.
   */
  bellFd?: number;
  /**
   * A domU of the hypervisor's process (cells off): the trap service's bell, a send end of the
   * addon's (transport/service-bell.ts), rung when the service sleeps. Absent: dom0, or a cell.
   */
  serviceBell?: number;
  /**
   * The domain's memory, a run at a time in pfn order (realm/memory-runs.ts): one buffer per stretch
   * of consecutive pages on consecutive frames. Every buffer here is a view made by the process that
   * runs the worker and passed on, never made again in the worker.
   */
  runs: MemoryRun[];
  sharedInfo: SharedArrayBuffer;
  /** The vCPU's page (registers and status: realm/vcpu-page.ts) and the machine doorbell's frame:
   * the supervisor's alone, never the realm's. */
  vcpuPage: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
  startInfoPfn: number;
  maxPages: number;
  /** "realm": a domU, no host authority. "trusted": dom0, the host's own Node. */
  mode: "realm" | "trusted";
  /**
   * realm: the guest image, a script built by hypervisor/src/image: a whole image (kernel and
   * program, or a raw guest), or — for a pooled worker, with kernelId — a program's image linked to
   * the kernel image the worker evaluated ahead.
   */
  image?: string;
  /** realm: the kernel image (image/kernel-image.ts) a program's linked image runs on, by id. */
  kernelId?: string;
  /** Where the image came from, for messages. */
  imageName?: string;
  /** trusted: tsx's registration API and the module to import once TypeScript support is in. */
  tsxApi?: string;
  entry?: string;
  programUrl?: string;
  inspectorPort?: number;
  /** With inspectorPort: wait for a debugger to attach and say "run" before anything else runs. */
  inspectorWait?: boolean;
  /** realm: heap used + ArrayBuffers may not exceed this (the allocation gate). */
  jsLimitBytes: number;
  /** realm: rdtsc() is rounded up to a multiple of this many ns (0: exact). */
  tscResolutionNs: number;
}

/**
 * What a pooled worker starts with instead (its workerData `pool`): nothing of any domain — no
 * frame, no id, no program — only what every domU of its size class gets alike, so it can install
 * the allocation gate, load SES, lock down and evaluate the kernel image ahead of need
 * (hypervisor/src/pool). Its domain's SupervisorBoot arrives later as a SupervisorAssign message,
 * once, and never another.
 */
export interface PooledBoot {
  /** The shared-memory addon's path, loaded now (it maps frames only once the boot names some). */
  addon: string;
  /** In a cell: its bell's fd, opened now (realm/cell-bell.ts). */
  bellFd?: number;
  /** In the hypervisor's process: the trap service's bell (SupervisorBoot.serviceBell). */
  serviceBell?: number;
  /** The allocation gate's bound: every domain this worker may serve has exactly this one. */
  jsLimitBytes: number;
  /**
   * The kernel image to evaluate ahead (pvkit's code, no program's): a program's domain may take
   * this worker only if its image runs on this kernel (id).
   */
  kernel?: KernelImageRef;
}

/** A kernel image as it crosses to a worker (image/kernel-image.ts): its text and its id. */
export interface KernelImageRef {
  code: string;
  id: string;
}

/** The one message a pooled worker waits for: its domain (the hypervisor's or its cell's post). */
export type SupervisorAssign = { t: "assign"; boot: SupervisorBoot };

/**
 * Messages a supervisor posts to the hypervisor: a pooled worker says once that it is ready (gate,
 * SES and lockdown done); any says at most once that its domain crashed, then exits; the code-cache
 * maker, which never runs a domain, hands over V8's code cache of the supervisor (realm/code-cache.ts).
 */
export type SupervisorReport =
  | { t: "crash"; reason: string }
  /** `codeCache`: whether V8 compiled this supervisor from the code cache (realm/code-cache.ts). */
  | { t: "ready"; codeCache?: "used" | "refused" | "none" }
  | { t: "code-cache"; data: Uint8Array }
  /** A trusted domain (dom0) has let go of its host resources: sockets closed (HostRelease). */
  | { t: "released" };

/**
 * Host → trusted domain, before its worker is terminated: let go of host resources. Node must not
 * be terminating a worker while one of its sockets receives: a UDP datagram for dom0's VXLAN
 * uplink arriving then aborts the whole process (UDPWrap::OnRecv's FromJust on Node 20).
 */
export interface HostRelease {
  t: "release";
}

/** The exit code a supervisor uses after a crash report. */
export const SUPERVISOR_CRASH_EXIT = 70;
