/**
 * What the hypervisor hands a domain's worker at start (its workerData): shared memory, the limits
 * the supervisor enforces, and either the guest image (a domU: it runs in a locked-down realm) or
 * the module to import (the privileged domain: trusted, with the host's full Node). Types only;
 * hypervisor/src/domain/worker.ts fills it and supervisor.ts reads it.
 */

/**
 * The machine's memory as a worker finds it (realm/frame-views.ts): the shared-memory addon's path
 * (hypervisor/native), and either the arena its process has mapped whole (the hypervisor's process)
 * or the file to map single frames from (a cell).
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
   * Frames by pfn (holes are null). Every buffer here is a view of one machine frame made by the
   * process that runs the worker and passed on, never made again in the worker: V8's Atomics.notify
   * finds a waiter only through the same backing store it waits on.
   */
  frames: (SharedArrayBuffer | null)[];
  sharedInfo: SharedArrayBuffer;
  /** The vCPU's page (registers and status: realm/vcpu-page.ts) and the machine doorbell's frame:
   * the supervisor's alone, never the realm's. */
  vcpuPage: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
  startInfoPfn: number;
  maxPages: number;
  /** "realm": a domU, no host authority. "trusted": dom0, the host's own Node. */
  mode: "realm" | "trusted";
  /** realm: the guest image, a script built by hypervisor/src/image (kernel + program, or a raw guest). */
  image?: string;
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

/** Messages a supervisor posts to the hypervisor (at most one crash report, then it exits). */
export type SupervisorReport = { t: "crash"; reason: string };

/** The exit code a supervisor uses after a crash report. */
export const SUPERVISOR_CRASH_EXIT = 70;
