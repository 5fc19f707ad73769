/**
 * The machine a domain's code runs on: what the worker's supervisor (the trusted part of every domain
 * worker, outside the guest's realm) gives the guest kernel's arch layer. It is the guest's whole
 * view of the hardware: its boot frames, its shared_info page, the hypercall instruction, the frames
 * the hypervisor hands over later, and a clock. Nothing else of the host exists for a domU.
 *
 * Rule for implementers: every function here is called by untrusted code. Take primitives only,
 * return primitives, fresh plain objects or SharedArrayBuffers the domain was given, never a host
 * object.
 */

/**
 * A run of the domain's own memory: the pages from `pfn` on, as one buffer of `buf.byteLength / 4096`
 * pages in pfn order (pfn + k is bytes k × 4096 ..). The hypervisor hands memory a run at a time:
 * each maximal stretch of pages that are also consecutive machine frames is one buffer.
 */
export interface MemoryRun {
  readonly pfn: number;
  readonly buf: SharedArrayBuffer;
}

/** What the hypervisor handed a domain's worker besides its boot memory. */
export type MachineMail =
  /** populate_physmap: new pages, a run at a time. */
  | { readonly t: "frames"; readonly runs: readonly MemoryRun[] }
  /**
   * decrease_reservation: these pfns are gone. Their run's buffer still spans them: the frames stay
   * this domain's own until it dies (docs/security.md), but the kernel must not use them.
   */
  | { readonly t: "drop"; readonly pfns: readonly number[] }
  /** setup_table: grant-table frames, by the frame number written to frame_list. */
  | { readonly t: "gnttab"; readonly mfns: readonly number[]; readonly bufs: readonly SharedArrayBuffer[] }
  /**
   * map_grant_ref: a foreign frame at `addr`. For a read-only map `buf` is a private snapshot of the
   * granted page taken at map time, never the granter's frame.
   */
  | { readonly t: "map"; readonly addr: number; readonly buf: SharedArrayBuffer; readonly readonly: boolean }
  /** unmap_grant_ref (or the granter died): forget the mapping at `addr`. */
  | { readonly t: "unmap"; readonly addr: number };

/** The machine interface, as the arch layer receives it (`globalThis.pvkitMachine`). */
export interface PvkitMachine {
  readonly domid: number;
  readonly privileged: boolean;
  /** Its memory at boot, a run at a time in pfn order (pfns in no run are not populated). */
  readonly runs: readonly MemoryRun[];
  readonly sharedInfo: SharedArrayBuffer;
  readonly startInfoPfn: number;
  /** The domain's quota in pages (xl.cfg maxmem). */
  readonly maxPages: number;
  /** dom0 only: the module URL of its init program (domUs have their program linked into their image). */
  readonly programUrl?: string;
  /**
   * The hypercall instruction: op and five 64-bit argument registers in, Xen's `long` out. Blocks the
   * thread until the hypervisor answers (microseconds); use trapAsync for calls that may block.
   */
  trap(op: number, a0: bigint, a1: bigint, a2: bigint, a3: bigint, a4: bigint): bigint;
  /** The same for calls that may block the vCPU (SCHEDOP_block/poll): the event loop keeps running. */
  trapAsync(op: number, a0: bigint, a1: bigint, a2: bigint, a3: bigint, a4: bigint): Promise<bigint>;
  /**
   * A hypercall whose answer the caller does not wait for: only event_channel_op/EVTCHNOP_send (a
   * notify; anything else throws a TypeError). It returns once the trap is stored and rung; the
   * vCPU's next trap waits for the hypervisor's answer before it stores its own, and drops it, so
   * the argument struct must stay in place until then. Absent on machines that cannot post.
   */
  post?(op: number, a0: bigint, a1: bigint, a2: bigint, a3: bigint, a4: bigint): void;
  /** Everything handed over since the last call, oldest first (call after each trap). */
  takeMail(): readonly MachineMail[];
  /**
   * The time-stamp counter: the host's monotonic nanoseconds, the counter vcpu_time_info's
   * tsc_timestamp is in. In a domU it is rounded up to the machine's TSC resolution (docs/security.md).
   */
  rdtsc(): bigint;
}

/**
 * The last bytes of the hypercall scratch page (pfn 3 of pvkit's boot layout) belong to posted
 * notifies' evtchn_send structs (the arch layer's transport): the SDK's scratch area and the realm's
 * early console end before them. A posted notify is read by the hypervisor after its caller goes
 * on, so nothing a later call writes may land there.
 */
export const SCRATCH_POSTED_BYTES = 16;

/** The global the supervisor defines in a domain's realm before the kernel image runs. */
export const MACHINE_GLOBAL = "pvkitMachine";
