/**
 * Xen numbers the event-channel code uses (xen.h, event_channel.h, errno.h; x86_64), and the
 * 2-level ABI's place in shared_info. Values are Xen's; when @pvkit/abi/layout carries all of them
 * this file shrinks to re-exports. The conformance tests check them against /usr/include/xen.
 */

/** Xen errno values (positive; a hypercall returns them negated). */
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EFAULT = 14;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ENOSYS = 38;

/** "The calling domain" in a domid argument. */
export const DOMID_SELF = 0x7ff0;

/** VIRQs (xen.h). V = per vCPU, G = global (bound on vCPU 0 only). */
export const VIRQ_TIMER = 0; // V
export const VIRQ_DEBUG = 1; // V
export const VIRQ_CONSOLE = 2; // G
export const VIRQ_DOM_EXC = 3; // G
export const VIRQ_XENOPROF = 7; // V
export const VIRQ_XENPMU = 13; // V
export const NR_VIRQS = 24;

/** Whether a VIRQ is per-vCPU (each vCPU binds its own) rather than global. */
export function virqIsPerVcpu(virq: number): boolean {
  return virq === VIRQ_TIMER || virq === VIRQ_DEBUG || virq === VIRQ_XENOPROF || virq === VIRQ_XENPMU;
}

/** evtchn_status.status values. */
export const EVTCHNSTAT_closed = 0;
export const EVTCHNSTAT_unbound = 1;
export const EVTCHNSTAT_interdomain = 2;
export const EVTCHNSTAT_pirq = 3;
export const EVTCHNSTAT_virq = 4;
export const EVTCHNSTAT_ipi = 5;

/** The 2-level ABI: 64 words of 64 bits in shared_info, so 4096 ports on x86_64. */
export const EVTCHN_WORD_BITS = 64;
export const EVTCHN_2L_NR_CHANNELS = 64 * 64;

/** Byte offsets in shared_info / vcpu_info (xen.h, x86_64; XEN_LEGACY_MAX_VCPUS = 32). */
export const SHINFO_EVTCHN_PENDING = 2048; // xen_ulong_t evtchn_pending[64]
export const SHINFO_EVTCHN_MASK = 2560; // xen_ulong_t evtchn_mask[64]
export const VCPU_INFO_SIZE = 64;
export const XEN_LEGACY_MAX_VCPUS = 32;
export const VCPU_INFO_UPCALL_PENDING = 0; // u8
export const VCPU_INFO_UPCALL_MASK = 1; // u8
export const VCPU_INFO_PENDING_SEL = 8; // xen_ulong_t
