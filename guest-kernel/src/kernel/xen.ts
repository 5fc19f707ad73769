/**
 * Xen facts the kernel relies on that are layout, not hypercalls: byte offsets in shared_info,
 * vcpu_info, start_info and the two byte rings, plus the flag values they carry.
 * Every number is Xen's (xen.h, io/console.h, io/xs_wire.h, grant_table.h, sched.h on x86_64); the
 * conformance test in test/ checks them against the installed headers. When @pvkit/abi/layout
 * grows codecs for these structs, callers move to it and this file shrinks to what it lacks.
 */

/** Every frame is 4 KiB, as on x86. */
export const PAGE_SIZE = 4096;

/** DOMID_SELF: "the calling domain" in hypercall arguments. */
export const DOMID_SELF = 0x7ff0;

/** vcpu_info (64 bytes, one per vCPU at the start of shared_info). */
export const VCPU_INFO = {
  size: 64,
  upcallPending: 0, // u8, set by the hypervisor, cleared by the guest before scanning
  upcallMask: 1, // u8, the guest's "interrupts off" flag
  pendingSel: 8, // xen_ulong_t: which evtchn_pending words may have bits set
  time: 32, // struct vcpu_time_info
} as const;

/** vcpu_time_info (32 bytes): Linux-seqlock-style versioned snapshot of system time. */
export const VCPU_TIME = {
  version: 0, // u32, odd while the hypervisor is writing
  tscTimestamp: 8, // u64
  systemTime: 16, // u64 ns since boot
  tscToSystemMul: 24, // u32
  tscShift: 28, // i8
  flags: 29, // u8
} as const;

/** shared_info (x86_64): 32 vcpu_infos, then the 2-level event bitmaps, then the wallclock. */
export const SHARED_INFO = {
  maxVcpus: 32,
  evtchnPending: 2048, // 64 x u64
  evtchnMask: 2560, // 64 x u64
  wcVersion: 3072, // u32
  wcSec: 3076, // u32
  wcNsec: 3080, // u32
  wcSecHi: 3084, // u32 (x86_64)
} as const;

/** The 2-level event ABI: 64 words of 64 bits, so 4096 ports. */
export const EVTCHN_WORD_BITS = 64;
export const EVTCHN_WORDS = 64;
export const NR_EVENT_CHANNELS = EVTCHN_WORD_BITS * EVTCHN_WORDS;

/** start_info flags. */
export const SIF_PRIVILEGED = 1 << 0;
export const SIF_INITDOMAIN = 1 << 1;

/** xencons_interface (io/console.h). */
export const XENCONS = {
  in: 0,
  inSize: 1024,
  out: 1024,
  outSize: 2048,
  inCons: 3072,
  inProd: 3076,
  outCons: 3080,
  outProd: 3084,
} as const;

/** xenstore_domain_interface (io/xs_wire.h). */
export const XENSTORE_RING = {
  size: 1024,
  req: 0,
  rsp: 1024,
  reqCons: 2048,
  reqProd: 2052,
  rspCons: 2056,
  rspProd: 2060,
  serverFeatures: 2064,
  connection: 2068,
  error: 2072,
} as const;

/** VIRQs (xen.h). */
export const VIRQ_TIMER = 0;
export const VIRQ_DEBUG = 1;

/** sched_op (sched.h). */
export const SHUTDOWN_poweroff = 0;
export const SHUTDOWN_reboot = 1;
export const SHUTDOWN_suspend = 2;
export const SHUTDOWN_crash = 3;
export const SHUTDOWN_watchdog = 4;

/** grant_table.h v1 entry flags. */
export const GTF_invalid = 0;
export const GTF_permit_access = 1 << 0;
export const GTF_type_mask = 3;
export const GTF_readonly = 1 << 2;
export const GTF_reading = 1 << 3;
export const GTF_writing = 1 << 4;
/** grant_entry_v1: u16 flags @0, u16 domid @2, u32 frame @4. */
export const GRANT_ENTRY_V1_SIZE = 8;
