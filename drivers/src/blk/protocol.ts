/**
 * What blkfront and blkback agree on besides the ring's bytes: device numbers, the xenstore keys of
 * the handshake (xen/io/blkif.h's "XenBus nodes"), and the arithmetic of segments. Both ends import
 * this file, so a key can only be misspelled once.
 */
import { BLKIF_MAX_SEGMENTS_PER_REQUEST, BlkifRing } from "@pvkit/abi/layout";
import { multiPageLayout } from "../ring.ts";

export const PAGE_SIZE = 4096;
/** blkif counts in 512-byte sectors whatever the disk's sector size. */
export const SECTOR_BYTES = 512;
export const SECTORS_PER_PAGE = PAGE_SIZE / SECTOR_BYTES;
/** Segments in a direct request. */
export const DIRECT_SEGMENTS = BLKIF_MAX_SEGMENTS_PER_REQUEST;
/** blkif_request_segment entries in one indirect page (8 bytes each). */
export const SEGMENTS_PER_INDIRECT_PAGE = PAGE_SIZE / 8;
/** What our backend offers and our frontend asks for at most (Linux's blkback offers 256 too). */
export const MAX_INDIRECT_SEGMENTS = 256;
/** The largest ring our backend maps: 2^4 = 16 pages, 512 requests. */
export const MAX_RING_PAGE_ORDER = 4;
/** The only ABI pvkit speaks: the x86_64 layout of the ring (XEN_IO_PROTO_ABI_X86_64). */
export const PROTOCOL_X86_64 = "x86_64-abi";

/** The ring of 2^order pages. */
export const blkifRingLayout = (order: number) => multiPageLayout(BlkifRing, order);

/**
 * Xen's virtual device number for a disk name (docs/misc/vbd-interface.txt): xvda..xvdp are
 * (202 << 8) | (index << 4); later disks use the extended form (1 << 28) | (index << 8).
 */
export function vdevNumber(name: string): number {
  const m = /^xvd([a-z]+)$/.exec(name);
  if (!m) throw new RangeError(`"${name}" is not a xvd disk name`);
  let index = 0;
  for (const ch of m[1]!) index = index * 26 + (ch.charCodeAt(0) - 96);
  index -= 1;
  // The extended form has 20 bits for the index (xvdbgqcv is the last): past them a name would
  // wrap onto another disk's number.
  if (index >= 1 << 20) throw new RangeError(`"${name}" is past the last disk name (xvdbgqcv)`);
  return index < 16 ? (202 << 8) | (index << 4) : (1 << 28) | (index << 8);
}

/** The disk name for a virtual device number (whole disks only), or undefined. */
export function vdevName(vdev: number): string | undefined {
  let index: number;
  if (vdev & (1 << 28)) index = (vdev >> 8) & 0xfffff;
  else if (vdev >> 8 === 202 && (vdev & 15) === 0) index = (vdev >> 4) & 15;
  else return undefined;
  let name = "";
  for (let i = index + 1; i > 0; i = Math.floor((i - 1) / 26))
    name = String.fromCharCode(97 + ((i - 1) % 26)) + name;
  return `xvd${name}`;
}

/** The keys of the handshake, relative to the frontend's or the backend's directory. */
export const Keys = {
  state: "state",
  // toolstack → both ends
  backend: "backend",
  backendId: "backend-id",
  frontend: "frontend",
  frontendId: "frontend-id",
  virtualDevice: "virtual-device",
  deviceType: "device-type",
  params: "params",
  mode: "mode",
  type: "type",
  dev: "dev",
  // backend → frontend
  featureFlush: "feature-flush-cache",
  featureBarrier: "feature-barrier",
  featureDiscard: "feature-discard",
  discardGranularity: "discard-granularity",
  discardAlignment: "discard-alignment",
  discardSecure: "discard-secure",
  featurePersistent: "feature-persistent",
  maxIndirectSegments: "feature-max-indirect-segments",
  maxRingPageOrder: "max-ring-page-order",
  sectors: "sectors",
  sectorSize: "sector-size",
  physicalSectorSize: "physical-sector-size",
  info: "info",
  // frontend → backend
  ringRef: "ring-ref",
  ringPageOrder: "ring-page-order",
  numRingPages: "num-ring-pages",
  eventChannel: "event-channel",
  protocol: "protocol",
} as const;

/** A xenstore as a driver needs it: async, absolute paths. */
export interface DriverStore {
  read(path: string): Promise<string | undefined>;
  write(path: string, value: string): Promise<void>;
  /** Calls `cb` once soon and on every change at or under `path`; resolves to an unwatch function. */
  watch(path: string, cb: () => void): Promise<() => void>;
}

/** Parses a decimal xenstore value; undefined when absent or not a whole number in [0, max]. */
export function readUint(v: string | undefined, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined || !/^\d{1,16}$/.test(v.trim())) return undefined;
  const n = Number(v.trim());
  return n <= max ? n : undefined;
}
