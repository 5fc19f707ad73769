/**
 * What the event-channel subsystem needs from the rest of the hypervisor: the whole contract, so
 * that EventChannels never touches domains, vCPUs or workers directly. The core implements it.
 * Rule: every method is called on the hypervisor's trap-service thread and must not block or throw.
 */

/** The core hypervisor's side of event channels (implemented by the domain table). */
export interface EvtchnHost {
  /** Whether domain `domid` exists and is not yet destroyed (a dying domain may answer false). */
  domainExists(domid: number): boolean;

  /** How many vCPUs `domid` has: valid vCPU ids are 0..n-1. 0 when the domain does not exist. */
  vcpuCount(domid: number): number;

  /**
   * The domain's shared_info page: a view of exactly the 4096-byte hypervisor-owned frame the guest
   * also maps (a SharedArrayBuffer), 8-byte aligned. Called once per domain and cached until
   * `closeAll(domid)`, so the frame must not change during the domain's life.
   */
  sharedInfo(domid: number): DataView;

  /**
   * Wake `vcpu` of `domid`: it was just given an upcall (evtchn_upcall_pending went 0 -> 1). If the
   * vCPU sleeps in SCHEDOP_block it must return; if it is running, nothing needs to happen.
   */
  kick(domid: number, vcpu: number): void;

  /**
   * Optional: `port` of `domid` just became pending (0 -> 1), masked or not. Xen wakes vCPUs that
   * wait in SCHEDOP_poll on that port here, because poll is used on masked ports that raise no upcall.
   */
  portPending?(domid: number, port: number): void;
}
