/**
 * Starting a domain's vCPU: a worker_threads Worker (its own V8 isolate and heap, capped by
 * resourceLimits) that boots the pvkit guest kernel from guest-kernel/src/arch/boot.mjs. The
 * hypervisor passes shared memory only: the domain's frames, its shared_info frame, the vCPU's
 * register block, the machine doorbell and a MessagePort for frames handed over later.
 */
import { MessageChannel, Worker } from "node:worker_threads";
import type { Domain } from "./domain.ts";

/** The worker bootstrap (guest code, reached by URL only: the hypervisor never imports guest code). */
export const GUEST_BOOT_URL = new URL("../../../guest-kernel/src/arch/boot.mjs", import.meta.url);
/** The kernel every domain runs unless a test names another entry. */
export const GUEST_KERNEL_URL = new URL("../../../guest-kernel/src/arch/entry.ts", import.meta.url).href;

/** What a domain's worker receives (the arch layer's boot handoff). */
export interface WorkerBoot {
  domid: number;
  privileged: boolean;
  /** Module the worker runs after the bootstrap (the kernel entry, or a test guest). */
  entry: string;
  program?: string;
  cmdline: string;
  /** Frames by pfn (holes are null). */
  frames: (SharedArrayBuffer | null)[];
  sharedInfo: SharedArrayBuffer;
  regs: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
  startInfoPfn: number;
  maxPages: number;
  inspectorPort?: number;
}

export interface WorkerEvents {
  onError(d: Domain, reason: string): void;
  onExit(d: Domain, code: number): void;
}

/** Heap cap for a domain: its memory (the JS heap is its RAM), at least 64 MiB for the runtime. */
export function heapLimitMb(maxPages: number): number {
  return Math.max(64, Math.ceil((maxPages * 4096) / (1024 * 1024)) + 48);
}

export function startWorker(d: Domain, doorbell: SharedArrayBuffer, events: WorkerEvents): void {
  const { port1, port2 } = new MessageChannel();
  const frames: (SharedArrayBuffer | null)[] = [];
  for (const [pfn, f] of d.p2m) frames[pfn] = f.buffer;
  for (let i = 0; i < frames.length; i++) frames[i] ??= null;
  const boot: WorkerBoot = {
    domid: d.domid,
    privileged: d.privileged,
    entry: d.kernelUrl ?? GUEST_KERNEL_URL,
    cmdline: d.cmdline,
    frames,
    sharedInfo: d.sharedInfo!.buffer,
    regs: d.vcpu.regs,
    doorbell,
    startInfoPfn: d.startInfoPfn,
    maxPages: d.maxPages,
  };
  if (d.programUrl) boot.program = d.programUrl;
  if (d.inspectorPort) boot.inspectorPort = d.inspectorPort;
  const w = new Worker(GUEST_BOOT_URL, {
    workerData: { boot, port: port2 },
    transferList: [port2],
    resourceLimits: { maxOldGenerationSizeMb: heapLimitMb(d.maxPages), maxYoungGenerationSizeMb: 16 },
    name: `dom${d.domid}-${d.name}`,
    stdout: false,
    stderr: false,
  });
  d.worker = w;
  d.port = port1;
  port1.unref();
  w.on("error", (e: Error & { code?: string }) => {
    const reason =
      e.code === "ERR_WORKER_OUT_OF_MEMORY"
        ? `out of memory (heap limit ${heapLimitMb(d.maxPages)} MiB)`
        : `uncaught ${e.name}: ${e.message}`;
    events.onError(d, reason);
  });
  w.on("exit", (code) => events.onExit(d, code));
}
