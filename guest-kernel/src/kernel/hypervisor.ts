/**
 * Every hypervisor operation the kernel uses, as one narrow interface. The kernel's subsystems
 * are written against it so each can be tested with a fake; at boot it is implemented over the
 * generated SDK (`Hypercalls`) by hypercalls.ts. Callers must treat a thrown error as the
 * hypercall's negative errno (XenError), never as a kernel bug.
 */

export interface XenOps {
  // event_channel_op
  evtchnSend(port: number): void;
  evtchnUnmask(port: number): void;
  evtchnClose(port: number): void;
  evtchnBindVirq(virq: number, vcpu: number): number;
  evtchnBindIpi(vcpu: number): number;
  evtchnAllocUnbound(remoteDom: number): number;
  evtchnBindInterdomain(remoteDom: number, remotePort: number): number;
  // sched_op / set_timer_op
  /** SCHEDOP_block: resolves when an event is pending. Must not freeze the event loop. */
  block(): Promise<void>;
  yield(): void;
  shutdown(reason: number): void;
  /** set_timer_op: absolute system time in ns; 0 cancels. */
  setTimer(deadlineNs: bigint): void;
  // console_io
  consoleWrite(bytes: Uint8Array): void;
  // memory_op
  /** XENMEM_populate_physmap for these pfns; returns how many were populated. */
  populatePhysmap(pfns: number[]): number;
  /** XENMEM_decrease_reservation for these pfns; returns how many were released. */
  decreaseReservation(pfns: number[]): number;
  // grant_table_op
  /** GNTTABOP_setup_table for ourselves: the frame numbers of our grant table. Throws on status < 0. */
  gnttabSetupTable(nrFrames: number): number[];
}
