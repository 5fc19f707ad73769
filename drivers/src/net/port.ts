/**
 * Where netback meets dom0's switch: a port is one guest's vif (or a capture tap, or an uplink); the
 * switch is the bridge it is plugged into. Frames cross as whole Ethernet frames in dom0's own memory
 * (netback copied them out of the guest's pages once, before anyone parsed them), without FCS.
 * A frame is lent, not given: it is valid only during the call that hands it over (netback reuses
 * the array for the next frame), so whoever keeps one — a backlog, a reordering impairment, a
 * capture writing later — keeps a copy.
 */
export interface PortCounters {
  /** Frames and bytes the port took from its guest (the guest's tx). */
  txFrames: number;
  txBytes: number;
  /** Frames and bytes the port gave its guest (the guest's rx). */
  rxFrames: number;
  rxBytes: number;
  /** Frames for the guest dropped: no rx buffers posted, link down. */
  rxDropped: number;
  /** Frames from the guest refused as malformed (bad descriptors, lengths, grants). */
  txErrors: number;
}

/**
 * A TSO frame crossing the switch whole: a TCP/IPv4 frame of up to 64 KiB, `hdrLen` bytes of
 * headers, whose payload is still to be cut into segments of `mss` bytes (offload.ts). The switch
 * cuts it for every port that cannot take it whole; a guest that acked VMXNET_F_LRO takes it as
 * one frame (large receive), which saves dom0 and that guest a frame, a descriptor and a parse
 * per segment.
 */
export interface Gso {
  mss: number;
  hdrLen: number;
}

export interface NetPort {
  /** "vif<domid>.<devid>" as Xen names a guest's port in dom0. */
  readonly name: string;
  readonly domid: number;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly counters: PortCounters;
  /**
   * Switch → port: hands the guest a frame; false when it was dropped. `gso` only for a port whose
   * `takesGso` is true.
   */
  send(frame: Uint8Array, gso?: Gso): boolean;
  /** Takes whole TSO frames (its guest acked VMXNET_F_LRO). */
  readonly takesGso?: boolean;
}

export interface NetSwitch {
  readonly name: string;
  /** Port → switch: a frame the port's guest transmitted (`gso`: a TSO frame not yet cut). */
  input(from: NetPort, frame: Uint8Array, gso?: Gso): void;
  attach(port: NetPort): void;
  detach(port: NetPort): void;
}

export const newCounters = (): PortCounters => ({
  txFrames: 0,
  txBytes: 0,
  rxFrames: 0,
  rxBytes: 0,
  rxDropped: 0,
  txErrors: 0,
});
