/**
 * blkback's first look at a request: the slot was copied out of the ring once (ring.ts), and this
 * decodes and checks that copy before anything acts on it. Every field the frontend controls is
 * checked against the disk and the features we offered — the operation, the segment count, each
 * segment's sector range inside its page, the sector range inside the disk, write access — and an
 * indirect request's segment pages are copied out once too, then checked the same way. What fails
 * becomes a refusal carrying the status to answer with (BLKIF_RSP_ERROR or BLKIF_RSP_EOPNOTSUPP) and
 * a reason for the log; nothing the frontend wrote is read twice.
 */
import {
  BLKIF_DISCARD_SECURE,
  BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR,
  BlkifRequest,
  BlkifRequestDiscard,
  BlkifRequestIndirect,
  BlkifRequestSegment,
} from "@pvkit/abi/layout";
import { DIRECT_SEGMENTS, SECTORS_PER_PAGE, SEGMENTS_PER_INDIRECT_PAGE } from "./protocol.ts";

export interface Segment {
  gref: number;
  /** First and last 512-byte sector used in the page (0..7, first <= last). */
  first: number;
  last: number;
}

/** What the backend offered and serves, against which requests are checked. */
export interface DiskLimits {
  sectors: number;
  readonly: boolean;
  flush: boolean;
  discard: boolean;
  maxIndirectSegments: number;
}

export type BlkRequest =
  | { kind: "rw"; write: boolean; id: bigint; operation: number; sector: number; segments: Segment[] }
  | { kind: "flush"; id: bigint; operation: number }
  | { kind: "discard"; id: bigint; operation: number; sector: number; count: number }
  | { kind: "refuse"; id: bigint; operation: number; status: number; why: string };

/** An indirect page's bytes, copied; undefined when the grant cannot be mapped. */
export type IndirectPageReader = (gref: number) => Uint8Array | undefined;

export function parseRequest(slot: Uint8Array, disk: DiskLimits, indirect: IndirectPageReader): BlkRequest {
  const view = new DataView(slot.buffer, slot.byteOffset, slot.byteLength);
  const operation = view.getUint8(0);
  const id = view.getBigUint64(8, true); // the same offset in every request shape

  switch (operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE: {
      // Only the fields used, read where they lie: decoding the whole struct made eleven segment
      // objects for a 4 KiB read's one.
      const at = BlkifRequest.offsets;
      const n = view.getUint8(at.nr_segments);
      if (n < 1 || n > DIRECT_SEGMENTS)
        return refusal(id, operation, BLKIF_RSP_ERROR, `${n} segments (1..${DIRECT_SEGMENTS} allowed)`);
      const segments = readSegments(view, at.seg, n);
      return checkRw(
        operation === BLKIF_OP_WRITE,
        id,
        operation,
        view.getBigUint64(at.sector_number, true),
        segments,
        disk,
      );
    }
    case BLKIF_OP_INDIRECT: {
      const r = BlkifRequestIndirect.decode(view, 0);
      const op = r.indirect_op;
      if (op !== BLKIF_OP_READ && op !== BLKIF_OP_WRITE)
        return refusal(id, op, BLKIF_RSP_ERROR, `indirect operation ${op} is neither read nor write`);
      if (disk.maxIndirectSegments === 0)
        return refusal(id, op, BLKIF_RSP_EOPNOTSUPP, "indirect requests not offered");
      if (r.nr_segments < 1 || r.nr_segments > disk.maxIndirectSegments)
        return refusal(
          id,
          op,
          BLKIF_RSP_ERROR,
          `${r.nr_segments} indirect segments (1..${disk.maxIndirectSegments})`,
        );
      const pages = Math.ceil(r.nr_segments / SEGMENTS_PER_INDIRECT_PAGE);
      if (pages > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST)
        return refusal(id, op, BLKIF_RSP_ERROR, `${pages} indirect pages`);
      const segments: Segment[] = [];
      for (let p = 0; p < pages; p++) {
        const bytes = indirect(r.indirect_grefs[p]!);
        if (!bytes)
          return refusal(
            id,
            op,
            BLKIF_RSP_ERROR,
            `indirect page grant ${r.indirect_grefs[p]} cannot be mapped`,
          );
        const pv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const n = Math.min(SEGMENTS_PER_INDIRECT_PAGE, r.nr_segments - segments.length);
        readSegments(pv, 0, n, segments);
      }
      return checkRw(op === BLKIF_OP_WRITE, id, op, r.sector_number, segments, disk);
    }
    case BLKIF_OP_FLUSH_DISKCACHE:
      if (!disk.flush) return refusal(id, operation, BLKIF_RSP_EOPNOTSUPP, "flush not offered");
      return { kind: "flush", id, operation };
    case BLKIF_OP_DISCARD: {
      const r = BlkifRequestDiscard.decode(view, 0);
      // Secure erase is never offered (discard-secure = 0). A discard on a read-only disk is a write
      // to it, so it is an error like any other write there (Linux's blkback answers -EROFS as
      // BLKIF_RSP_ERROR), checked before "not offered": a read-only disk never offers discard.
      if (r.flag & BLKIF_DISCARD_SECURE)
        return refusal(id, operation, BLKIF_RSP_EOPNOTSUPP, "secure discard not offered");
      if (disk.readonly) return refusal(id, operation, BLKIF_RSP_ERROR, "discard on a read-only disk");
      if (!disk.discard) return refusal(id, operation, BLKIF_RSP_EOPNOTSUPP, "discard not offered");
      const range = sectorRange(r.sector_number, r.nr_sectors, disk.sectors);
      if (typeof range === "string") return refusal(id, operation, BLKIF_RSP_ERROR, `discard ${range}`);
      return { kind: "discard", id, operation, sector: range.sector, count: range.count };
    }
    default:
      return refusal(id, operation, BLKIF_RSP_EOPNOTSUPP, `operation ${operation} not supported`);
  }
}

/**
 * `n` blkif_request_segments at `at`, appended to `out`, each field read where it lies rather than a struct decoded and
 * copied again: up to 256 a request, blkback's busiest loop and garbage on every request.
 */
function readSegments(v: DataView, at: number, n: number, out: Segment[] = []): Segment[] {
  const { gref, first_sect, last_sect } = BlkifRequestSegment.offsets;
  for (let i = 0, o = at; i < n; i++, o += BlkifRequestSegment.size)
    out.push({
      gref: v.getUint32(o + gref, true),
      first: v.getUint8(o + first_sect),
      last: v.getUint8(o + last_sect),
    });
  return out;
}

/**
 * A request refused with `status`. A function of the module, not a closure made per request: run
 * under tsx (esbuild's keepNames), making a named closure costs a defineProperty of its name,
 * ~0.3 µs, on every request.
 */
function refusal(id: bigint, operation: number, status: number, why: string): BlkRequest {
  return { kind: "refuse", id, operation, status, why };
}

function checkRw(
  write: boolean,
  id: bigint,
  operation: number,
  sectorNumber: bigint,
  segments: Segment[],
  disk: DiskLimits,
): BlkRequest {
  if (write && disk.readonly) return refusal(id, operation, BLKIF_RSP_ERROR, "write to a read-only disk");
  let total = 0;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s.first > s.last || s.last >= SECTORS_PER_PAGE)
      return refusal(id, operation, BLKIF_RSP_ERROR, `segment ${i}: sectors ${s.first}..${s.last} of a page`);
    total += s.last - s.first + 1;
  }
  const range = sectorRange(sectorNumber, BigInt(total), disk.sectors);
  if (typeof range === "string") return refusal(id, operation, BLKIF_RSP_ERROR, range);
  return { kind: "rw", write, id, operation, sector: range.sector, segments };
}

/** [sector, sector + count) inside the disk, or why not. */
function sectorRange(
  sector: bigint,
  count: bigint,
  diskSectors: number,
): { sector: number; count: number } | string {
  if (count === 0n) return `of 0 sectors at ${sector}`;
  if (sector + count > BigInt(diskSectors))
    return `sectors ${sector}..${sector + count - 1n} past the end of the disk (${diskSectors} sectors)`;
  return { sector: Number(sector), count: Number(count) };
}
