/**
 * The Xen numbers the event-channel code uses (event_channel.h, xen.h, errno.h), all from the
 * generated ABI (@pvkit/abi/layout, checked against Xen's headers), plus the shared_info offsets of
 * the 2-level ABI taken from its layouts.
 */
export {
  EPERM,
  ENOENT,
  ESRCH,
  EFAULT,
  EEXIST,
  EINVAL,
  ENOSPC,
  ENOSYS,
  DOMID_SELF,
  VIRQ_TIMER,
  VIRQ_DEBUG,
  VIRQ_CONSOLE,
  VIRQ_DOM_EXC,
  VIRQ_XENOPROF,
  VIRQ_XENPMU,
  NR_VIRQS,
  EVTCHNSTAT_closed,
  EVTCHNSTAT_unbound,
  EVTCHNSTAT_interdomain,
  EVTCHNSTAT_pirq,
  EVTCHNSTAT_virq,
  EVTCHNSTAT_ipi,
  EVTCHN_2L_NR_CHANNELS,
  XEN_LEGACY_MAX_VCPUS,
} from "@pvkit/abi/layout";

import { SharedInfo, VIRQ_DEBUG, VIRQ_TIMER, VIRQ_XENOPROF, VIRQ_XENPMU, VcpuInfo } from "@pvkit/abi/layout";

/** Whether a VIRQ is per-vCPU (each vCPU binds its own: TIMER, DEBUG, XENOPROF, XENPMU) rather than global. */
export function virqIsPerVcpu(virq: number): boolean {
  return virq === VIRQ_TIMER || virq === VIRQ_DEBUG || virq === VIRQ_XENOPROF || virq === VIRQ_XENPMU;
}

/** Bits per evtchn_pending/evtchn_mask word (xen_ulong_t on x86_64). */
export const EVTCHN_WORD_BITS = 64;
/** shared_info and vcpu_info offsets the 2-level event ABI touches. */
export const SHINFO_EVTCHN_PENDING = SharedInfo.offsets.evtchn_pending;
export const SHINFO_EVTCHN_MASK = SharedInfo.offsets.evtchn_mask;
export const VCPU_INFO_SIZE = VcpuInfo.size;
export const VCPU_INFO_UPCALL_PENDING = VcpuInfo.offsets.evtchn_upcall_pending;
export const VCPU_INFO_UPCALL_MASK = VcpuInfo.offsets.evtchn_upcall_mask;
export const VCPU_INFO_PENDING_SEL = VcpuInfo.offsets.evtchn_pending_sel;
