/**
 * What the hypervisor hands a domain's worker at start (its workerData): shared memory, the limits
 * the supervisor enforces, and either the guest image (a domU: it runs in a locked-down realm) or
 * the module to import (the privileged domain: trusted, with the host's full Node). Types only;
 * hypervisor/src/domain/worker.ts fills it and supervisor.ts reads it.
 */

export interface SupervisorBoot {
  domid: number;
  privileged: boolean;
  /** Frames by pfn (holes are null). */
  frames: (SharedArrayBuffer | null)[];
  sharedInfo: SharedArrayBuffer;
  /** The vCPU's register block and the machine doorbell: the supervisor's alone, never the realm's. */
  regs: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
  /** The supervisor's status block for the hypervisor (realm/trap.ts: time asleep in traps). */
  status: SharedArrayBuffer;
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
  /** realm: heap used + ArrayBuffers may not exceed this (the allocation gate). */
  jsLimitBytes: number;
  /** realm: rdtsc() is rounded up to a multiple of this many ns (0: exact). */
  tscResolutionNs: number;
}

/** Messages a supervisor posts to the hypervisor (at most one crash report, then it exits). */
export type SupervisorReport = { t: "crash"; reason: string };

/** The exit code a supervisor uses after a crash report. */
export const SUPERVISOR_CRASH_EXIT = 70;
