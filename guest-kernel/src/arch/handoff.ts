/**
 * The hypervisor's handoff to a domain's worker (shared memory only) turned into the arch layer:
 * guest memory, the trap transport, the typed SDK and the decoded start_info. No side effects: the
 * kernel entry (entry.ts) and raw test/bench guests both start here.
 */
import { workerData, type MessagePort } from "node:worker_threads";
import { Hypercalls } from "@pvkit/abi/guest";
import { StartInfo } from "@pvkit/abi/layout";
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

/** The arch layer of the domain this worker runs (call once). */
export function currentArch(): ArchBoot {
  return archFromHandoff(workerData as Handoff);
}
