/**
 * The kernel's entry in every domain's worker: turn the hypervisor's handoff (shared memory only)
 * into the arch layer — guest memory, the trap transport, the typed SDK, start_info — and boot the
 * kernel. In dom0 the privileged pieces (full SDK, events, the foreign-mapping window) are lent to
 * dom0's services before init runs.
 */
import { workerData, type MessagePort } from "node:worker_threads";
import { Hypercalls } from "@pvkit/abi/guest";
import { StartInfo } from "@pvkit/abi/layout";
import { bootKernel } from "../kernel/main.ts";
import { bootInfoFromArch } from "../kernel/archboot.ts";
import { lendPrivileged } from "../dom0/privileged.ts";
import type { ArchBoot } from "./boot.ts";
import { PAGE_SIZE, PhysMemory } from "./memory.ts";
import { VcpuTransport } from "./vcpu.ts";

/** The hypercall scratch page (pvkit's boot layout: pfn 3, see hypervisor/src/domain/builder.ts). */
const SCRATCH_PFN = 3;

interface Handoff {
  boot: {
    domid: number;
    privileged: boolean;
    program?: string;
    frames: (SharedArrayBuffer | null)[];
    sharedInfo: SharedArrayBuffer;
    regs: SharedArrayBuffer;
    doorbell: SharedArrayBuffer;
    startInfoPfn: number;
    maxPages: number;
  };
  port: MessagePort;
}

export function archFromHandoff(h: Handoff): ArchBoot {
  const b = h.boot;
  const memory = new PhysMemory(b.frames, h.port);
  const scratch = { addr: SCRATCH_PFN * PAGE_SIZE, size: PAGE_SIZE };
  const transport = new VcpuTransport(b.regs, b.doorbell, memory, scratch);
  const hc = new Hypercalls(transport);
  const si = StartInfo.decode(memory.page(b.startInfoPfn));
  const startInfo = { ...si, console: { domU: si.console.domU ?? { mfn: 0n, evtchn: 0 } } };
  const arch: ArchBoot = {
    domid: b.domid,
    privileged: b.privileged,
    hc,
    memory,
    sharedInfo: new DataView(b.sharedInfo),
    startInfo,
    scratch,
    reservedPfns: [b.startInfoPfn],
    maxPages: b.maxPages,
    mapFrames: (mfns) => memory.mapFrames(mfns),
  };
  if (b.program) arch.programUrl = b.program;
  return arch;
}

const arch = archFromHandoff(workerData as Handoff);
const { kernel, done } = bootKernel(bootInfoFromArch(arch));
if (arch.privileged) lendPrivileged({ hc: arch.hc, kernel, memory: arch.memory as PhysMemory });
await done;
