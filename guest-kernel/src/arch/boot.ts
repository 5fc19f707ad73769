/**
 * ArchBoot: what the arch layer hands the kernel — the domain's identity, the typed SDK over its
 * trap, its memory, shared_info and decoded start_info. The kernel reads these and nothing else of
 * the machine.
 */
import type { Hypercalls } from "@pvkit/abi/guest";
import type { StartInfo, StartInfoConsoleDomU } from "@pvkit/abi/layout";
import type { PhysMemory } from "./memory.ts";

export interface ArchBoot {
  domid: number;
  privileged: boolean;
  hc: Hypercalls;
  memory: PhysMemory;
  sharedInfo: DataView;
  /** start_info, with its console union read as the domU variant (pvkit domains use that one). */
  startInfo: StartInfo & { console: { domU: StartInfoConsoleDomU } };
  /** The vCPU's scratch page: the SDK marshals arguments there; never allocated. */
  scratch: { addr: number; size: number };
  /** EVTCHNOP_send posted (transport.ts), where the machine can post a trap. */
  notify?: (port: number) => void;
  reservedPfns: number[];
  maxPages: number;
  /** The machine's time-stamp counter (vcpu_time_info's tsc_timestamp counts in it). */
  tsc: () => bigint;
  programUrl?: string;
  mapFrames(mfns: number[]): DataView[];
}
