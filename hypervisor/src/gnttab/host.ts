/**
 * What the grant-table subsystem needs from the rest of the hypervisor: frames (the P2M and a frame
 * allocator) and a way to hand frames to, and take them back from, a domain's worker.
 * Rule: called on the hypervisor's trap-service thread; must not block; must not throw on bad input.
 */

/** A machine frame: its number and the 4 KiB SharedArrayBuffer that is the frame. */
export interface Frame {
  readonly mfn: number;
  readonly buffer: SharedArrayBuffer;
}

/** One live grant mapping, as told to the mapping domain's worker. */
export interface ForeignMapping {
  /** The grant handle the mapper will unmap with (unique per mapping domain while live). */
  readonly handle: number;
  /** The domain that granted the frame, and the grant reference in its table. */
  readonly granter: number;
  readonly ref: number;
  /** The granted frame (the granter's frame for the entry's gfn). */
  readonly frame: Frame;
  /** map_grant_ref's host_addr: where the mapper asked to see the frame in its address space. */
  readonly hostAddr: bigint;
  /** GNTMAP_readonly: the mapper must only read the frame (enforced by its accessor, see docs). */
  readonly readonly: boolean;
}

/** The core hypervisor's side of grant tables (implemented by the domain/frame tables). */
export interface GnttabHost {
  /** Whether domain `domid` exists and is not being destroyed. */
  domainExists(domid: number): boolean;

  /** The frame behind guest frame `gfn` of `domid` (its P2M), or undefined when unpopulated. */
  frameOf(domid: number, gfn: number): Frame | undefined;

  /**
   * A fresh zeroed hypervisor frame that will hold part of `domid`'s grant table (not counted in
   * the domain's memory quota, like Xen's xenheap). undefined when frames are exhausted.
   */
  allocFrame(domid: number): Frame | undefined;

  /** Returns a frame from allocFrame when its domain is destroyed. */
  freeFrame(frame: Frame): void;

  /**
   * Give `domid`'s worker its grant-table frames (GNTTABOP_setup_table): the guest then finds them
   * by the mfns written to frame_list. Called again with the same frames on a repeated setup_table.
   */
  giveTableFrames(domid: number, frames: readonly Frame[]): void;

  /**
   * Hand a granted frame to `domid`'s worker (GNTTABOP_map_grant_ref): it must be usable there when
   * the hypercall returns. Returns 0 (GNTST_okay) or a negative GNTST_* (e.g. GNTST_bad_virt_addr
   * for a host_addr the worker cannot map at); on failure the grant is unpinned again.
   */
  mapForeign(domid: number, mapping: ForeignMapping): number;

  /**
   * Take a mapping back from `domid`'s worker: after a guest's unmap, or a revocation because the
   * granter is being destroyed. The worker must drop every reference to the frame.
   */
  unmapForeign(domid: number, mapping: ForeignMapping): void;
}
