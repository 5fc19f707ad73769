/**
 * The machine turned into the arch layer: guest memory over the domain's frames, the SDK over the
 * trap instruction, shared_info and the decoded start_info. No side effects: the kernel entries
 * (realm-entry.ts for a domU, entry.ts for dom0) and raw test/bench guests all start here.
 */
import { Hypercalls } from "@pvkit/abi/guest";
import { StartInfo } from "@pvkit/abi/layout";
import { type PvkitMachine, SCRATCH_POSTED_BYTES } from "@pvkit/abi/machine";
import type { ArchBoot } from "./boot.ts";
import { currentMachine } from "./machine.ts";
import { PAGE_SIZE, PhysMemory } from "./memory.ts";
import { MachineTransport } from "./transport.ts";

/** The hypercall scratch page (pvkit's boot layout: pfn 3, see hypervisor/src/domain/builder.ts). */
const SCRATCH_PFN = 3;

export function archFromMachine(m: PvkitMachine): ArchBoot {
  const memory = new PhysMemory(m.runs);
  // The page's last bytes hold posted notifies' arguments (transport.ts); the SDK gets the rest.
  const scratch = { addr: SCRATCH_PFN * PAGE_SIZE, size: PAGE_SIZE - SCRATCH_POSTED_BYTES };
  const transport = new MachineTransport(m, memory, scratch);
  const hc = new Hypercalls(transport);
  const si = StartInfo.decode(memory.page(m.startInfoPfn));
  const startInfo = { ...si, console: { domU: si.console.domU ?? { mfn: 0n, evtchn: 0 } } };
  const arch: ArchBoot = {
    domid: m.domid,
    privileged: m.privileged,
    hc,
    memory,
    sharedInfo: new DataView(m.sharedInfo),
    startInfo,
    scratch,
    ...(transport.canPost ? { notify: (port: number) => transport.notify(port) } : {}),
    reservedPfns: [m.startInfoPfn],
    maxPages: m.maxPages,
    tsc: () => m.rdtsc(),
    mapFrames: (mfns) => memory.mapFrames(mfns),
  };
  if (m.programUrl) arch.programUrl = m.programUrl;
  return arch;
}

/** The arch layer of the domain this code runs in (call once). */
export function currentArch(): ArchBoot {
  return archFromMachine(currentMachine());
}
