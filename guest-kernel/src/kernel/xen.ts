/**
 * The Xen layout facts the kernel uses, in the shapes its subsystems index with, all taken from the
 * generated ABI (@pvkit/abi/layout: one source, checked against Xen's headers by the conformance
 * test). Nothing here is a number of its own except what C spells as an expression (bit counts).
 */
import {
  GrantEntryV1,
  SharedInfo,
  VcpuInfo,
  VcpuTimeInfo,
  XENCONS_IN_SIZE,
  XENCONS_OUT_SIZE,
  XENSTORE_RING_SIZE,
  XenconsInterface,
  XenstoreDomainInterface,
} from "@pvkit/abi/layout";

export {
  DOMID_SELF,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_okay,
  GTF_invalid,
  GTF_permit_access,
  GTF_readonly,
  GTF_reading,
  GTF_writing,
  SHUTDOWN_crash,
  SHUTDOWN_poweroff,
  SHUTDOWN_reboot,
  SHUTDOWN_suspend,
  SHUTDOWN_watchdog,
  SIF_INITDOMAIN,
  SIF_PRIVILEGED,
  VIRQ_DEBUG,
  VIRQ_TIMER,
} from "@pvkit/abi/layout";

/** Every frame is 4 KiB, as on x86. */
export const PAGE_SIZE = 4096;

/** grant_entry_v1 flags' type field (GTF_permit_access / accept_transfer / transitive). */
export const GTF_type_mask = 3;

/** vcpu_info, one per vCPU at the start of shared_info. */
export const VCPU_INFO = {
  size: VcpuInfo.size,
  upcallPending: VcpuInfo.offsets.evtchn_upcall_pending, // set by the hypervisor, cleared before scanning
  upcallMask: VcpuInfo.offsets.evtchn_upcall_mask, // the guest's "interrupts off" flag
  pendingSel: VcpuInfo.offsets.evtchn_pending_sel, // which evtchn_pending words may have bits set
  time: VcpuInfo.offsets.time,
} as const;

/** vcpu_time_info: a seqlock-style versioned snapshot of system time. */
export const VCPU_TIME = {
  version: VcpuTimeInfo.offsets.version, // odd while the hypervisor is writing
  tscTimestamp: VcpuTimeInfo.offsets.tsc_timestamp,
  systemTime: VcpuTimeInfo.offsets.system_time,
  tscToSystemMul: VcpuTimeInfo.offsets.tsc_to_system_mul,
  tscShift: VcpuTimeInfo.offsets.tsc_shift,
  flags: VcpuTimeInfo.offsets.flags,
} as const;

/** shared_info (x86_64): the vcpu_infos, then the 2-level event bitmaps, then the wallclock. */
export const SHARED_INFO = {
  maxVcpus: 32,
  evtchnPending: SharedInfo.offsets.evtchn_pending,
  evtchnMask: SharedInfo.offsets.evtchn_mask,
  wcVersion: SharedInfo.offsets.wc_version,
  wcSec: SharedInfo.offsets.wc_sec,
  wcNsec: SharedInfo.offsets.wc_nsec,
  wcSecHi: SharedInfo.offsets.wc_sec_hi,
} as const;

/** The 2-level event ABI: 64 words of 64 bits, so 4096 ports. */
export const EVTCHN_WORD_BITS = 64;
export const EVTCHN_WORDS = 64;
export const NR_EVENT_CHANNELS = EVTCHN_WORD_BITS * EVTCHN_WORDS;

/** xencons_interface (io/console.h). */
export const XENCONS = {
  in: XenconsInterface.offsets.in,
  inSize: XENCONS_IN_SIZE,
  out: XenconsInterface.offsets.out,
  outSize: XENCONS_OUT_SIZE,
  inCons: XenconsInterface.offsets.in_cons,
  inProd: XenconsInterface.offsets.in_prod,
  outCons: XenconsInterface.offsets.out_cons,
  outProd: XenconsInterface.offsets.out_prod,
} as const;

/** xenstore_domain_interface (io/xs_wire.h). */
const xs = XenstoreDomainInterface.offsets;
export const XENSTORE_RING = {
  size: XENSTORE_RING_SIZE,
  req: xs.req,
  rsp: xs.rsp,
  reqCons: xs.req_cons,
  reqProd: xs.req_prod,
  rspCons: xs.rsp_cons,
  rspProd: xs.rsp_prod,
  serverFeatures: xs.server_features,
  connection: xs.connection,
  error: xs.error,
} as const;

/** grant_entry_v1: u16 flags, u16 domid, u32 frame. */
export const GRANT_ENTRY_V1_SIZE = GrantEntryV1.size;
