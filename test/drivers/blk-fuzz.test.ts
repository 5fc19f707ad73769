/**
 * blkback's request checks under random input: parseRequest (drivers/src/blk/back-request.ts) is
 * the only thing between a frontend's ring slot and host I/O, so it is fed slots no honest frontend
 * would write — random bytes, with the fields that matter biased towards the edges (operations
 * around the known ones, segment counts around 0/11/256, sectors near the end of the disk and near
 * 2^64, sector numbers in a page around 0..7) — and random indirect pages. Whatever it gets, it must
 * not throw, and what it accepts must be safe to act on: a read or write lies wholly inside the disk,
 * each segment inside its page, and nothing that writes is accepted on a read-only disk. What it
 * returns must not depend on the ring afterwards: rewriting the slot and the indirect pages once it
 * has answered changes nothing (the frontend cannot win a race against a copy).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
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
  BlkifRequestDiscard,
} from "@pvkit/abi/layout";
import { type DiskLimits, parseRequest } from "@pvkit/drivers/blk/back-request";
import { DIRECT_SEGMENTS, SECTORS_PER_PAGE } from "@pvkit/drivers/blk/protocol";

const SLOT = 112;
const PAGE = 4096;

const disk: fc.Arbitrary<DiskLimits> = fc.record({
  sectors: fc.oneof(
    fc.integer({ min: 1, max: 64 }),
    fc.integer({ min: 1, max: 1 << 20 }),
    fc.integer({ min: 1, max: 2 ** 40 }),
  ),
  readonly: fc.boolean(),
  flush: fc.boolean(),
  discard: fc.boolean(),
  maxIndirectSegments: fc.constantFrom(0, 11, 256),
});

/** A sector number: near the start or the end of the disk, or near 2^63 / 2^64, or anything. */
const sectorFor = (d: DiskLimits) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.bigInt({ min: 0n, max: BigInt(Math.min(d.sectors, 4096)) }) },
    {
      weight: 2,
      arbitrary: fc.bigInt({ min: BigInt(Math.max(0, d.sectors - 4096)), max: BigInt(d.sectors + 16) }),
    },
    fc.bigInt({ min: 2n ** 63n - 8n, max: 2n ** 63n + 8n }),
    fc.bigInt({ min: 2n ** 64n - 16n, max: 2n ** 64n - 1n }),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  );

/**
 * A segment: one time in `goodWeight + 1` any two bytes for its first and last sector, otherwise a
 * well-formed range in the page (plain integers mapped, which fast-check generates quickly).
 */
const segmentWith = (goodWeight: number) =>
  fc
    .tuple(
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: goodWeight }),
    )
    .map(([gref, a, b, dice]): [number, number, number] => {
      if (dice === 0) return [gref, a, b];
      const first = a % 8;
      return [gref || 1, first, first + (b % (8 - first))];
    });
const segment = segmentWith(19);

/** 8 bytes of blkif_request_segment at `o`: gref, first and last sector in the page. */
function putSegment(v: DataView, o: number, [gref, first, last]: [number, number, number]): void {
  v.setUint32(o, gref, true);
  v.setUint8(o + 4, first);
  v.setUint8(o + 5, last);
}

/** A ring slot for disk `d`: random bytes with the decoded fields overlaid from the generators above. */
const slotFor = (d: DiskLimits) =>
  fc
    .record({
      noise: fc.uint8Array({ minLength: SLOT, maxLength: SLOT }),
      op: fc.oneof(
        {
          weight: 4,
          arbitrary: fc.constantFrom(BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_INDIRECT, BLKIF_OP_DISCARD),
        },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
      ),
      byte1: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 11 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
      ),
      indirectSegments: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 0, max: 260 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 65535 }) },
      ),
      sector: sectorFor(d),
      discardSectors: fc.oneof(fc.bigInt({ min: 0n, max: 64n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
      segs: fc.array(segment, { minLength: 11, maxLength: 11 }),
      indirectGrefs: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 8, maxLength: 8 }),
    })
    .map((r) => {
      const bytes = r.noise.slice();
      const v = new DataView(bytes.buffer);
      v.setUint8(0, r.op);
      v.setUint8(1, r.byte1);
      v.setBigUint64(16, r.sector, true);
      if (r.op === BLKIF_OP_INDIRECT) {
        // blkif_request_indirect: indirect_op @1, nr_segments @2 (u16), grefs @28.
        v.setUint8(1, [BLKIF_OP_READ, BLKIF_OP_WRITE, r.byte1][r.byte1 % 3]!);
        v.setUint16(2, r.indirectSegments, true);
        r.indirectGrefs.forEach((g, i) => v.setUint32(28 + i * 4, g, true));
      } else if (r.op === BLKIF_OP_DISCARD) {
        v.setBigUint64(24, r.discardSectors, true);
      } else {
        r.segs.forEach((seg, i) => putSegment(v, 24 + i * 8, seg));
      }
      return bytes;
    });

/** A disk and a slot for it. */
const diskAndSlot = disk.chain((d) => fc.tuple(fc.constant(d), slotFor(d)));

/** An indirect page: 512 segments, all well-formed or with the odd bad one among them. */
const indirectPage = fc
  .oneof(
    fc.array(segmentWith(1000), { minLength: 512, maxLength: 512 }),
    fc.array(segment, { minLength: 512, maxLength: 512 }),
  )
  .map((segs) => {
    const page = new Uint8Array(PAGE);
    const v = new DataView(page.buffer);
    segs.forEach((seg, i) => putSegment(v, i * 8, seg));
    return page;
  });

/** A deep copy of a parse result, for comparing it before and after the ring is rewritten. */
const snapshot = (x: unknown) => JSON.stringify(x, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));

describe("blkback's request checks against random ring slots", () => {
  it("never throw, and accept only requests inside the disk, inside each page, and allowed", () => {
    fc.assert(
      fc.property(
        diskAndSlot,
        indirectPage,
        fc.uint8Array({ minLength: SLOT, maxLength: SLOT }),
        ([d, s], ip, later) => {
          const live = s.slice(); // the "ring": parseRequest gets it, and the test rewrites it after
          const pages = new Map<number, Uint8Array>();
          let reads = 0;
          const reader = (gref: number) => {
            reads++;
            if (gref % 7 === 0) return undefined; // grefs divisible by 7 are not grants to us
            const page = pages.get(gref) ?? ip.slice();
            pages.set(gref, page);
            return page;
          };
          const req = parseRequest(live, d, reader);
          const before = snapshot(req);
          const view = new DataView(s.buffer);
          const op = view.getUint8(0);

          expect(reads).toBeLessThanOrEqual(BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
          expect(req.id).toBe(view.getBigUint64(8, true)); // every answer echoes the slot's id
          switch (req.kind) {
            case "rw": {
              expect(d.readonly && req.write).toBe(false);
              expect([BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_INDIRECT]).toContain(op);
              const max = op === BLKIF_OP_INDIRECT ? d.maxIndirectSegments : DIRECT_SEGMENTS;
              expect(req.segments.length).toBeGreaterThanOrEqual(1);
              expect(req.segments.length).toBeLessThanOrEqual(max);
              let count = 0;
              for (const seg of req.segments) {
                expect(seg.first).toBeGreaterThanOrEqual(0);
                expect(seg.first).toBeLessThanOrEqual(seg.last);
                expect(seg.last).toBeLessThan(SECTORS_PER_PAGE);
                count += seg.last - seg.first + 1;
              }
              expect(Number.isSafeInteger(req.sector) && req.sector >= 0).toBe(true);
              expect(req.sector + count).toBeLessThanOrEqual(d.sectors);
              expect(BigInt(req.sector)).toBe(view.getBigUint64(16, true));
              if (op !== BLKIF_OP_INDIRECT) {
                expect(req.write).toBe(op === BLKIF_OP_WRITE);
                req.segments.forEach((seg, i) => expect(seg.gref).toBe(view.getUint32(24 + i * 8, true)));
              } else expect(req.write).toBe(view.getUint8(1) === BLKIF_OP_WRITE);
              break;
            }
            case "discard":
              expect(op).toBe(BLKIF_OP_DISCARD);
              expect(d.readonly).toBe(false);
              expect(d.discard).toBe(true);
              expect(req.count).toBeGreaterThan(0);
              expect(req.sector + req.count).toBeLessThanOrEqual(d.sectors);
              break;
            case "flush":
              expect(op).toBe(BLKIF_OP_FLUSH_DISKCACHE);
              expect(d.flush).toBe(true);
              break;
            case "refuse":
              expect([BLKIF_RSP_ERROR, BLKIF_RSP_EOPNOTSUPP]).toContain(req.status);
              expect(req.why.length).toBeGreaterThan(0);
              break;
          }

          // The frontend rewrites the slot and every indirect page it lent: the verdict stands.
          live.set(later);
          for (const page of pages.values()) page.fill(0xff);
          expect(snapshot(req)).toBe(before);
        },
      ),
      { numRuns: 4000 },
    );
  });

  it("refuse every write and discard on a read-only disk, whatever else the slot says", () => {
    fc.assert(
      fc.property(diskAndSlot, indirectPage, ([d, s], ip) => {
        const req = parseRequest(s, { ...d, readonly: true }, () => ip);
        if (req.kind === "rw") expect(req.write).toBe(false);
        expect(req.kind).not.toBe("discard");
      }),
      { numRuns: 3000 },
    );
  });

  it("answer a discard on a read-only disk as the write it is (ERROR), and secure discard EOPNOTSUPP", () => {
    const slotOf = (flag: number) => {
      const b = new Uint8Array(SLOT);
      BlkifRequestDiscard.encode(new DataView(b.buffer), 0, {
        operation: BLKIF_OP_DISCARD,
        flag,
        handle: 0,
        id: 7n,
        sector_number: 0n,
        nr_sectors: 8n,
      });
      return b;
    };
    const ro: DiskLimits = {
      sectors: 64,
      readonly: true,
      flush: true,
      discard: false,
      maxIndirectSegments: 0,
    };
    const rw: DiskLimits = { ...ro, readonly: false, discard: true };
    const none = () => undefined;
    expect(parseRequest(slotOf(0), ro, none)).toMatchObject({ kind: "refuse", status: BLKIF_RSP_ERROR });
    expect(parseRequest(slotOf(BLKIF_DISCARD_SECURE), rw, none)).toMatchObject({
      kind: "refuse",
      status: BLKIF_RSP_EOPNOTSUPP,
    });
    expect(parseRequest(slotOf(0), { ...rw, discard: false }, none)).toMatchObject({
      status: BLKIF_RSP_EOPNOTSUPP,
    });
    expect(parseRequest(slotOf(0), rw, none)).toMatchObject({ kind: "discard", sector: 0, count: 8 });
  });
});
