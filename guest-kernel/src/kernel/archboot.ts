/**
 * The handoff from the arch layer: what `src/arch/entry.ts` passes to kernelMain, and how it
 * becomes the kernel's BootInfo. The arch layer owns decoding start_info and mapping frames; this
 * file only picks fields and decides which pfns the allocator must never hand out. start_info's
 * store/console "mfn" fields are taken as pfns of this domain (the arch layer translates).
 */
import type { KernelBoot } from "./main.ts";
import type { Hypercalls } from "@pvkit/abi/guest";
import { type SdkHypercalls, xenOpsFromSdk } from "./hypercalls.ts";
import type { ForeignWindow } from "./sharing.ts";
import { PAGE_SIZE, SIF_PRIVILEGED } from "./xen.ts";

/** The decoded start_info fields the kernel reads (C names, as the layout codec gives them). */
export interface StartInfoFields {
  nr_pages: number | bigint;
  flags: number;
  store_mfn: number | bigint;
  store_evtchn: number;
  console: { domU: { mfn: number | bigint; evtchn: number } };
  cmd_line: string;
}

/** What the arch layer hands over at boot. */
export interface ArchBootLike {
  domid: number;
  privileged?: boolean;
  hc: SdkHypercalls;
  memory: {
    write(addr: number, bytes: Uint8Array): void;
    read(addr: number, len: number): Uint8Array;
    /** A live view of one page of this domain's memory. */
    page(pfn: number): DataView;
    /** One view over consecutive pages of one run, or undefined (absent: no shared buffers). */
    span?(pfn: number, pages: number): Uint8Array | undefined;
    /** Where other domains' granted pages appear once mapped (absent: no grants.map). */
    window?: ForeignWindow;
  };
  sharedInfo: DataView;
  startInfo: StartInfoFields;
  /** The transport's scratch area (the SDK marshals arguments there): never allocated. */
  scratch?: { addr: number; size: number };
  /** EVTCHNOP_send posted, not waited for (absent: notifies are synchronous calls). */
  notify?: (port: number) => void;
  /** pfns the arch layer used for itself (start_info page, ...). */
  reservedPfns?: number[];
  /** Module URL of the guest program; absent: the shell is init. */
  programUrl?: string;
  /** The quota in pages, when the arch layer knows it (xl.cfg maxmem). */
  maxPages?: number;
  /** Views of hypervisor frames handed to us (grant-table frames after setup_table). */
  mapFrames?: (frames: number[]) => DataView[];
  /** The machine's time-stamp counter (absent: the host's, in unit tests). */
  tsc?: () => bigint;
}

/** Turns the arch handoff into the kernel's boot info. */
/** Whether `hc` is the whole generated SDK (the arch layer's), not a slice a test made. */
function isFullSdk(hc: SdkHypercalls): hc is SdkHypercalls & Hypercalls {
  return "xenVersion" in hc && "errnoName" in hc;
}

export function bootInfoFromArch(arch: ArchBootLike): KernelBoot {
  const si = arch.startInfo;
  const nrPages = Number(si.nr_pages);
  const reserved = new Set<number>(arch.reservedPfns ?? []);
  const storePfn = Number(si.store_mfn);
  const consPfn = Number(si.console.domU.mfn);
  // A zero pfn/evtchn pair means "none" (dom0 has no console ring; early dom0 has no xenstore).
  const hasStore = si.store_evtchn > 0;
  const hasConsole = si.console.domU.evtchn > 0;
  if (hasStore) reserved.add(storePfn);
  if (hasConsole) reserved.add(consPfn);
  if (arch.scratch) {
    const first = Math.floor(arch.scratch.addr / PAGE_SIZE);
    const last = Math.floor((arch.scratch.addr + arch.scratch.size - 1) / PAGE_SIZE);
    for (let p = first; p <= last; p++) reserved.add(p);
  }
  // One page of our own for memory_op's pfn lists: the first free pfn.
  let extentPfn = 0;
  while (reserved.has(extentPfn) && extentPfn < nrPages) extentPfn++;
  if (extentPfn >= nrPages)
    throw new Error(`domain ${arch.domid}: no free page for the kernel (${nrPages} pages)`);
  reserved.add(extentPfn);
  const xen = xenOpsFromSdk(
    arch.hc,
    {
      addr: extentPfn * PAGE_SIZE,
      write: (a, b) => arch.memory.write(a, b),
      read: (a, n) => arch.memory.read(a, n),
    },
    arch.notify,
  );
  return {
    domid: arch.domid,
    privileged: arch.privileged ?? (si.flags & SIF_PRIVILEGED) !== 0,
    xen,
    hc: isFullSdk(arch.hc) ? arch.hc : undefined,
    sharedInfo: arch.sharedInfo,
    nrPages,
    maxPages: arch.maxPages,
    reservedPfns: [...reserved],
    cmdLine: si.cmd_line,
    flags: si.flags,
    store: hasStore ? { page: arch.memory.page(storePfn), evtchn: si.store_evtchn } : undefined,
    console: hasConsole ? { page: arch.memory.page(consPfn), evtchn: si.console.domU.evtchn } : undefined,
    programUrl: arch.programUrl,
    ...(arch.tsc ? { tsc: arch.tsc } : {}),
    page: (pfn) => arch.memory.page(pfn),
    ...(arch.memory.span ? { span: (pfn: number, pages: number) => arch.memory.span!(pfn, pages) } : {}),
    mapFrames: arch.mapFrames,
    ...(arch.memory.window ? { foreign: arch.memory.window } : {}),
  };
}
