/**
 * The PV block device protocol (xen/io/blkif.h): a blkfront in the guest and a blkback in dom0
 * share one ring page of requests and responses; data moves through granted pages of 512-byte
 * sectors. Layouts and numbers are Xen's, so the ring page is the one Linux's drivers speak.
 */
import { constants, ring, struct } from "../schema.ts";

const header = "xen/io/blkif.h";

export const blkifRequestSegment = struct({
  name: "blkif_request_segment",
  origin: "xen",
  header,
  doc: "One granted page of a request and the sectors used in it (0..7 for 4 KiB pages).",
  size: 8,
  fields: [
    { name: "gref", type: "u32", doc: "Grant ref of the I/O buffer page." },
    { name: "first_sect", type: "u8", doc: "First sector of the page in the transfer." },
    { name: "last_sect", type: "u8", doc: "Last sector of the page in the transfer (inclusive)." },
  ],
});

export const blkifRequest = struct({
  name: "blkif_request",
  origin: "xen",
  header,
  doc: "A read, write or flush request on the ring.",
  size: 112,
  fields: [
    { name: "operation", type: "u8", doc: "BLKIF_OP_*." },
    {
      name: "nr_segments",
      type: "u8",
      doc: "Entries of `seg` used (at most BLKIF_MAX_SEGMENTS_PER_REQUEST).",
    },
    { name: "handle", type: "u16", doc: "Virtual device handle (blkif_vdev_t)." },
    { name: "id", type: "u64", doc: "The frontend's cookie, echoed in the response." },
    { name: "sector_number", type: "u64", doc: "First 512-byte sector on the disk." },
    {
      name: "seg",
      type: { array: { struct: "blkif_request_segment" }, length: 11 },
      doc: "The granted pages.",
    },
  ],
});

export const blkifRequestDiscard = struct({
  name: "blkif_request_discard",
  origin: "xen",
  header,
  doc: "BLKIF_OP_DISCARD request (same ring slot as blkif_request).",
  size: 32,
  fields: [
    { name: "operation", type: "u8", doc: "BLKIF_OP_DISCARD." },
    { name: "flag", type: "u8", doc: "BLKIF_DISCARD_SECURE or 0." },
    { name: "handle", type: "u16", doc: "Virtual device handle." },
    { name: "id", type: "u64", doc: "Cookie, echoed in the response." },
    { name: "sector_number", type: "u64", doc: "First sector to discard." },
    { name: "nr_sectors", type: "u64", doc: "Sectors to discard." },
  ],
});

export const blkifRequestIndirect = struct({
  name: "blkif_request_indirect",
  origin: "xen",
  header,
  doc:
    "BLKIF_OP_INDIRECT request: the segments live in granted pages of blkif_request_segment " +
    "(feature-max-indirect-segments), so one request can move more than 11 pages.",
  size: 64,
  fields: [
    { name: "operation", type: "u8", doc: "BLKIF_OP_INDIRECT." },
    { name: "indirect_op", type: "u8", doc: "BLKIF_OP_READ or BLKIF_OP_WRITE." },
    { name: "nr_segments", type: "u16", doc: "Total segments." },
    { name: "id", type: "u64", doc: "Cookie, echoed in the response." },
    { name: "sector_number", type: "u64", doc: "First sector." },
    { name: "handle", type: "u16", doc: "Virtual device handle." },
    {
      name: "indirect_grefs",
      type: { array: "u32", length: 8 },
      doc: "Grant refs of the pages holding the segments.",
    },
  ],
});

export const blkifResponse = struct({
  name: "blkif_response",
  origin: "xen",
  header,
  doc: "The backend's answer to one request.",
  size: 16,
  fields: [
    { name: "id", type: "u64", doc: "The request's id." },
    { name: "operation", type: "u8", doc: "The request's operation." },
    { name: "status", type: "i16", doc: "BLKIF_RSP_*." },
  ],
});

export const blkifRing = ring({
  name: "blkif",
  origin: "xen",
  doc: "The blkif shared ring: one 4 KiB page, 32 entries of union {blkif_request, blkif_response}.",
  request: "blkif_request",
  response: "blkif_response",
  pageSize: 4096,
  entries: 32,
});

export const blkifOp = constants({
  name: "BLKIF_OP",
  origin: "xen",
  header,
  doc: "blkif_request.operation.",
  values: [
    { name: "BLKIF_OP_READ", value: 0, doc: "Read sectors into the granted pages." },
    { name: "BLKIF_OP_WRITE", value: 1, doc: "Write sectors from the granted pages." },
    { name: "BLKIF_OP_WRITE_BARRIER", value: 2, doc: "Write with barrier (feature-barrier)." },
    { name: "BLKIF_OP_FLUSH_DISKCACHE", value: 3, doc: "Flush the disk cache (feature-flush-cache)." },
    { name: "BLKIF_OP_RESERVED_1", value: 4, doc: "Reserved." },
    { name: "BLKIF_OP_DISCARD", value: 5, doc: "Discard sectors (feature-discard)." },
    { name: "BLKIF_OP_INDIRECT", value: 6, doc: "Indirect request (feature-max-indirect-segments)." },
  ],
});

export const blkifRsp = constants({
  name: "BLKIF_RSP",
  origin: "xen",
  header,
  doc: "blkif_response.status.",
  values: [
    { name: "BLKIF_RSP_EOPNOTSUPP", value: -2, doc: "Operation not supported." },
    { name: "BLKIF_RSP_ERROR", value: -1, doc: "The request failed." },
    { name: "BLKIF_RSP_OKAY", value: 0, doc: "Success." },
  ],
});

export const blkifLimits = constants({
  name: "BLKIF_LIMITS",
  origin: "xen",
  header,
  doc: "Request limits and flags.",
  values: [
    { name: "BLKIF_MAX_SEGMENTS_PER_REQUEST", value: 11, doc: "Segments in a direct request." },
    { name: "BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST", value: 8, doc: "Indirect pages in one request." },
    { name: "BLKIF_DISCARD_SECURE", value: 1 << 0, doc: "Secure discard (discard-secure)." },
  ],
});

export const vdisk = constants({
  name: "VDISK",
  origin: "xen",
  header,
  doc: "Virtual disk info flags (the backend's `info` node).",
  values: [
    { name: "VDISK_CDROM", value: 0x1, doc: "A CD-ROM." },
    { name: "VDISK_REMOVABLE", value: 0x2, doc: "Removable media." },
    { name: "VDISK_READONLY", value: 0x4, doc: "Read-only." },
  ],
});
