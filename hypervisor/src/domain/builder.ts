/**
 * The domain builder (libxc's xc_dom_* in Xen's toolstack, done here by the hypervisor because a
 * TypeScript guest has no ELF image or page tables to load). It populates the domain's first pages
 * and lays them out as pvkit's PV boot protocol says:
 *
 *   pfn 0  start_info            pfn 2  console ring (xencons_interface)
 *   pfn 1  xenstore ring         pfn 3  the vCPU's hypercall scratch page
 *
 * then binds the rings' event channels unbound towards the back-end domain and grants both ring pages
 * to it at Xen's reserved refs, as xc_dom_gnttab_init does, so dom0 can map them.
 */
import {
  GNTTAB_RESERVED_CONSOLE,
  GNTTAB_RESERVED_XENSTORE,
  SIF_INITDOMAIN,
  SIF_PRIVILEGED,
  StartInfo,
} from "@pvkit/abi/layout";
import type { Hypervisor } from "../hypervisor.ts";
import type { Domain } from "./domain.ts";

export const START_INFO_PFN = 0;
export const STORE_PFN = 1;
export const CONSOLE_PFN = 2;
export const SCRATCH_PFN = 3;
/** Smallest domain: the boot pages plus a few for the kernel. */
export const MIN_PAGES = 16;

export interface BuildOptions {
  nrPages: number;
  /** Make console and xenstore rings served by `backend`. */
  rings: boolean;
  backend: number;
}

export interface BuildResult {
  startInfoPfn: number;
  storePfn: number;
  consolePfn: number;
  storePort: number;
  consolePort: number;
}

export function buildDomain(hv: Hypervisor, d: Domain, o: BuildOptions): BuildResult | number {
  if (d.built) return -17; // EEXIST
  if (!Number.isInteger(o.nrPages) || o.nrPages < MIN_PAGES) return -22;
  if (o.nrPages > d.maxPages) return -12;
  for (let pfn = 0; pfn < o.nrPages; pfn++) {
    const f = hv.memory.frameFor(d);
    if (!f) {
      for (const fr of d.p2m.values()) hv.frames.retire(fr);
      d.p2m.clear();
      return -12; // ENOMEM: the machine is full
    }
    d.p2m.set(pfn, f);
  }
  let storePort = 0;
  let consolePort = 0;
  if (o.rings) {
    storePort = hv.evtchn.allocUnbound(o.backend, true, d.domid, o.backend);
    consolePort = hv.evtchn.allocUnbound(o.backend, true, d.domid, o.backend);
    if (storePort < 0 || consolePort < 0) return storePort < 0 ? storePort : consolePort;
    const a = hv.gnttab.seedGrant(d.domid, GNTTAB_RESERVED_XENSTORE, o.backend, STORE_PFN, false);
    const b = hv.gnttab.seedGrant(d.domid, GNTTAB_RESERVED_CONSOLE, o.backend, CONSOLE_PFN, false);
    if (a < 0 || b < 0) return a < 0 ? a : b;
  }
  const si = StartInfo.zero();
  si.magic = "xen-3.0-x86_64";
  si.nr_pages = BigInt(o.nrPages);
  si.shared_info = BigInt(d.sharedInfo!.mfn) * 4096n;
  si.flags = d.privileged ? SIF_PRIVILEGED | SIF_INITDOMAIN : 0;
  if (o.rings) {
    si.store_mfn = BigInt(STORE_PFN);
    si.store_evtchn = storePort;
    si.console = { domU: { mfn: BigInt(CONSOLE_PFN), evtchn: consolePort } };
  }
  si.cmd_line = d.cmdline.slice(0, 1023);
  StartInfo.encode(new DataView(d.p2m.get(START_INFO_PFN)!.buffer), 0, si);
  d.startInfoPfn = START_INFO_PFN;
  d.built = true;
  return {
    startInfoPfn: START_INFO_PFN,
    storePfn: STORE_PFN,
    consolePfn: CONSOLE_PFN,
    storePort,
    consolePort,
  };
}
