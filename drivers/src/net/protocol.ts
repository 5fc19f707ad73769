/**
 * What netfront and netback agree on besides the rings' bytes: the xenstore keys of the vmxnet
 * handshake (docs/abi.md, "The vmxnet device"), the feature bits, MAC address text, and the ring
 * sizes of one queue. Both ends import this file, so a key can only be misspelled once.
 */
import {
  type VmxnetRxDesc,
  VmxnetRxDesc as RxDescCodec,
  VMXNET_RX_COMP_RING_SIZE,
  VMXNET_RX_RING_SIZE,
  VMXNET_TX_COMP_RING_SIZE,
  VMXNET_TX_RING_SIZE,
} from "@pvkit/abi/layout";

export const PAGE_SIZE = 4096;
/** Ethernet header: destination, source, ethertype. */
export const ETH_HLEN = 14;
/** The smallest frame a port accepts (a header); anything shorter is malformed. */
export const MIN_FRAME = ETH_HLEN;
export const DEFAULT_MTU = 1500;

export const RING = {
  tx: VMXNET_TX_RING_SIZE,
  txComp: VMXNET_TX_COMP_RING_SIZE,
  rx: VMXNET_RX_RING_SIZE,
  rxComp: VMXNET_RX_COMP_RING_SIZE,
} as const;

/** The pages of one queue, in the order the frontend grants them. */
export const QUEUE_PAGES = [
  "ctrl",
  "tx-ring",
  "tx-comp-ring",
  "rx-ring0",
  "rx-ring1",
  "rx-comp-ring",
] as const;
export type QueuePage = (typeof QUEUE_PAGES)[number];
/** The xenstore key of each page's grant ref under queue-N/. */
export const pageKey = (p: QueuePage): string =>
  p === "rx-ring0" ? "rx-ring-ref0" : p === "rx-ring1" ? "rx-ring-ref1" : `${p}-ref`;

export const Keys = {
  state: "state",
  backend: "backend",
  backendId: "backend-id",
  frontend: "frontend",
  frontendId: "frontend-id",
  handle: "handle",
  mac: "mac",
  mtu: "mtu",
  bridge: "bridge",
  ip: "ip",
  features: "features",
  featuresAck: "features-ack",
  maxQueues: "multi-queue-max-queues",
  numQueues: "multi-queue-num-queues",
  eventChannel: "event-channel",
  // netback's statistics for `pvkit network-list` and the guest's ifconfig
  link: "link-state",
  /** statistics/<counter>: netback's PortCounters (tx-frames, rx-dropped, ...), updated coalesced. */
  statistics: "statistics",
} as const;

/** A PortCounters name as its xenstore key: txFrames → tx-frames. */
export const statKey = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** "00:16:3e:12:34:56" → 6 bytes, or undefined when it is not a unicast MAC in that spelling. */
export function parseMac(text: string | undefined): Uint8Array | undefined {
  if (!text || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(text)) return undefined;
  return Uint8Array.from(text.split(":").map((h) => parseInt(h, 16)));
}

export function formatMac(mac: Uint8Array): string {
  return [...mac.subarray(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** xenstore numbers are read as blkif's are. */
export { readUint } from "../blk/protocol.ts";

const RX_NO_RESERVED = new Uint8Array(6);
const RXD = RxDescCodec.offsets;

/**
 * vmxnet_rx_desc's codec without its 6 reserved bytes: the generated one copies them into a new
 * array per descriptor, which at a million frames a second is most of the cost of the ring. Neither
 * side uses them: the frontend leaves them as the zeroed page had them, the backend never reads
 * them (decode gives a shared zero array).
 */
export const RxDescFast: typeof RxDescCodec = {
  ...RxDescCodec,
  decode(v: DataView, o = 0): VmxnetRxDesc {
    return {
      gref: v.getUint32(o + RXD.gref, true),
      offset: v.getUint16(o + RXD.offset, true),
      len: v.getUint16(o + RXD.len, true),
      rsvd: RX_NO_RESERVED,
      flags: v.getUint16(o + RXD.flags, true),
    };
  },
  encode(v: DataView, o: number, x: VmxnetRxDesc): void {
    v.setUint32(o + RXD.gref, x.gref, true);
    v.setUint16(o + RXD.offset, x.offset, true);
    v.setUint16(o + RXD.len, x.len, true);
    v.setUint16(o + RXD.flags, x.flags, true);
  },
};
