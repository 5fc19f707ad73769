/**
 * Every hypervisor operation the kernel uses, as one narrow interface. The kernel's subsystems
 * are written against it so each can be tested with a fake; at boot it is implemented over the
 * generated SDK (`Hypercalls`) by hypercalls.ts. Callers must treat a thrown error as the
 * hypercall's negative errno (XenError), never as a kernel bug.
 */

export interface XenOps {
  // event_channel_op
  evtchnSend(port: number): void;
  /**
   * EVTCHNOP_send without waiting for the answer, where the machine can post a trap (realm/trap.ts):
   * a notify's errors are not reported (Linux's notify_remote_via_evtchn ignores them too).
   */
  evtchnNotify?(port: number): void;
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
  /**
   * GNTTABOP_map_grant_ref of `ref` in `domid`'s table at `hostAddr` (a free address of the foreign
   * window). Returns the handle for unmapping; throws GrantError when the status is not GNTST_okay.
   */
  gnttabMap(domid: number, ref: number, hostAddr: bigint, readonly: boolean): number;
  /**
   * Many maps in one hypercall, as Xen's map_grant_ref takes an array (at most MAP_BATCH): each
   * op's handle, or the GrantError of its own status. One op failing fails none of the others.
   */
  gnttabMapBatch(ops: readonly GrantMapOp[]): (number | GrantError)[];
  /** GNTTABOP_unmap_grant_ref by host address and handle; throws GrantError on a bad status. */
  gnttabUnmap(hostAddr: bigint, handle: number): void;
  /** One GNTTABOP_copy of `len` bytes; each side a grant ref of another domain or a pfn of ours. */
  gnttabCopy(op: GrantCopyOp): void;
}

/** One GNTTABOP_map_grant_ref of a batch. */
export interface GrantMapOp {
  domid: number;
  ref: number;
  hostAddr: bigint;
  readonly: boolean;
}

/** Most maps in one batch: 64 of gnttab_map_grant_ref's 32 bytes fill half the scratch page. */
export const MAP_BATCH = 64;

/** One side of a grant copy: a peer's grant ref, or a page of ours by pfn. */
export type GrantCopySide = { domid: number; ref: number; offset: number } | { pfn: number; offset: number };

/** A GNTTABOP_copy request, in the kernel's terms. */
export interface GrantCopyOp {
  source: GrantCopySide;
  dest: GrantCopySide;
  len: number;
}

/** A grant operation that ended with a GNTST_* status other than okay. */
export class GrantError extends Error {
  constructor(
    readonly op: string,
    readonly status: number,
    readonly statusName: string,
  ) {
    super(`${op}: ${statusName}`);
    this.name = "GrantError";
  }
}
