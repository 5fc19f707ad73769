/**
 * A guest that turns its own disks against dom0's blkback. It takes both over as a raw frontend
 * (blk-raw-front.ts): xvda (read-write) and xvdb (read-only, access=r). Then, one request at a
 * time, it sends every malformed request the backend must refuse, with good reads and writes in
 * between that must still work, and reports each status and whether the response bytes were clean
 * (the id echoed, padding zero). Then it races the backend (rewriting a write's slot while dom0
 * serves it), and last lies about req_prod, which must get xvda disconnected while xvdb is still
 * served. Phases are JSON lines on the console; the test checks the images on the host.
 *
 * Every refused write points at sector POISON_SECTOR with a page of 0xEE, so the test can see that
 * none of them reached the image.
 */
import {
  BLKIF_DISCARD_SECURE,
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_OP_WRITE_BARRIER,
  BlkifRequest,
  BlkifRequestDiscard,
  BlkifRequestIndirect,
  BlkifRequestSegment,
} from "@pvkit/abi/layout";
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { waitForNode } from "@pvkit/guest-kernel/lib/vchan";
import { POISON_SECTOR, XVDA, XVDB, patternA, patternB } from "./blk-images.ts";
import { RawFront, filledPage } from "./blk-raw-front.ts";

type Seg = [gref: number, first: number, last: number];

/** A direct read or write (or any operation byte) with `segs`, claiming `count` segments. */
const direct =
  (operation: number, sector: bigint, segs: Seg[], count = segs.length) =>
  (id: bigint) =>
  (v: DataView, off: number) =>
    BlkifRequest.encode(v, off, {
      operation,
      nr_segments: count,
      handle: 0,
      id,
      sector_number: sector,
      seg: segs.map(([gref, first_sect, last_sect]) => ({ gref, first_sect, last_sect })),
    });

const indirect =
  (indirect_op: number, sector: bigint, nr_segments: number, grefs: number[]) =>
  (id: bigint) =>
  (v: DataView, off: number) =>
    BlkifRequestIndirect.encode(v, off, {
      operation: BLKIF_OP_INDIRECT,
      indirect_op,
      nr_segments,
      id,
      sector_number: sector,
      handle: 0,
      indirect_grefs: grefs,
    });

const discard =
  (sector: bigint, count: bigint, flag = 0) =>
  (id: bigint) =>
  (v: DataView, off: number) =>
    BlkifRequestDiscard.encode(v, off, {
      operation: BLKIF_OP_DISCARD,
      flag,
      handle: 0,
      id,
      sector_number: sector,
      nr_sectors: count,
    });

/** Fills an indirect page with `segs` (blkif_request_segment, 8 bytes each). */
function putSegments(page: Uint8Array, segs: Seg[]): void {
  const v = new DataView(page.buffer, page.byteOffset, 4096);
  page.fill(0);
  segs.forEach(([gref, first_sect, last_sect], i) =>
    BlkifRequestSegment.encode(v, i * 8, { gref, first_sect, last_sect }),
  );
}

export default async function main(k: KernelHandle): Promise<void> {
  const { victim } = JSON.parse(await waitForNode(k, "data/targets")) as { victim: number };
  const a = await RawFront.takeOver(k, XVDA);
  const b = await RawFront.takeOver(k, XVDB);

  // Our pages for dom0: data, a poison page for writes that must never land, an indirect page, a
  // page lent read-only (dom0 must not read the disk into it), and one lent to another domain.
  const data = Array.from({ length: 12 }, () => filledPage(k, 0, 0));
  const poison = filledPage(k, 0, 0xee);
  const ind = filledPage(k, 0, 0);
  const readOnly = filledPage(k, 0, 0, true);
  const foreign = filledPage(k, victim, 0xee);

  // Ids whose every byte is non-zero: a response slot still holding the request's bytes 8..15
  // (where the response keeps its operation, padding and status) would show in `clean`.
  let n = 0;
  const nextId = () => 0xc3c3c3c3c3c30011n | (BigInt(++n) << 8n);
  const status: Record<string, number> = {};
  const dirty: string[] = [];
  const send = async (
    front: RawFront,
    name: string,
    req: (id: bigint) => (v: DataView, o: number) => void,
  ) => {
    const id = nextId();
    const r = await front.send(req(id));
    status[name] = r.status;
    if (r.id !== id || !r.clean) dirty.push(name);
  };
  const page = (i: number) => data[i]!;
  const whole = (i: number): Seg => [page(i).ref, 0, 7];
  const poisonSeg: Seg = [poison.ref, 0, 7];
  const P = BigInt(POISON_SECTOR);
  const end = BigInt(a.sectors);
  const checks: Record<string, boolean> = {};

  // A good write and read first: the ring works.
  page(0).bytes.fill(0x77);
  await send(a, "good write", direct(BLKIF_OP_WRITE, 100n, [whole(0)]));
  await send(a, "good read", direct(BLKIF_OP_READ, 100n, [whole(1)]));
  checks.goodRead = page(1).bytes.every((x) => x === 0x77);

  // Operations the backend does not speak.
  await send(a, "op 4", direct(4, P, [poisonSeg]));
  await send(a, "op 200", direct(200, P, [poisonSeg]));
  await send(a, "write barrier", direct(BLKIF_OP_WRITE_BARRIER, P, [poisonSeg]));
  // Segment counts and sector ranges in a page.
  const eleven = Array.from({ length: 11 }, () => poisonSeg);
  await send(a, "read 0 segments", direct(BLKIF_OP_READ, P, [], 0));
  await send(a, "read 12 segments", direct(BLKIF_OP_READ, P, [], 12));
  await send(a, "write 0 segments", direct(BLKIF_OP_WRITE, P, [], 0));
  await send(a, "write 12 segments", direct(BLKIF_OP_WRITE, P, eleven, 12));
  await send(a, "last_sect 8", direct(BLKIF_OP_WRITE, P, [[poison.ref, 0, 8]]));
  await send(a, "first > last", direct(BLKIF_OP_WRITE, P, [[poison.ref, 5, 2]]));
  // Sectors outside the disk.
  await send(a, "past the end", direct(BLKIF_OP_WRITE, end - 4n, [poisonSeg]));
  await send(a, "sector 2^63", direct(BLKIF_OP_WRITE, 2n ** 63n, [poisonSeg]));
  await send(a, "sector 2^64-1", direct(BLKIF_OP_WRITE, 2n ** 64n - 1n, [poisonSeg]));
  // Pages that are not ours to give.
  await send(a, "gref 9999", direct(BLKIF_OP_WRITE, P, [[9999, 0, 7]]));
  await send(a, "gref of another domain", direct(BLKIF_OP_WRITE, P, [[foreign.ref, 0, 7]]));
  await send(a, "read into a read-only grant", direct(BLKIF_OP_READ, 0n, [[readOnly.ref, 0, 7]]));
  checks.readOnlyUntouched = readOnly.bytes.every((x) => x === 0);
  // The read-only disk, and discard.
  await send(b, "write to read-only disk", direct(BLKIF_OP_WRITE, 0n, [poisonSeg]));
  await send(b, "discard on read-only disk", discard(0n, 8n));
  await send(a, "secure discard", discard(P, 8n, BLKIF_DISCARD_SECURE));
  await send(a, "discard past the end", discard(end - 4n, 8n));
  await send(a, "discard of 2^64-1 sectors", discard(P, 2n ** 64n - 1n));

  // A good read between the bad ones, through an indirect request of 12 pages.
  putSegments(
    ind.bytes,
    data.map((d) => [d.ref, 0, 7]),
  );
  await send(a, "good indirect read", indirect(BLKIF_OP_READ, 200n, 12, [ind.ref]));
  checks.goodIndirectRead = data.every((d, i) =>
    d.bytes.every((x, j) => x === patternA(200 * 512 + i * 4096 + j)),
  );
  // Bad indirect requests.
  putSegments(ind.bytes, [poisonSeg]);
  await send(a, "indirect flush", indirect(BLKIF_OP_FLUSH_DISKCACHE, P, 1, [ind.ref]));
  await send(a, "indirect 0 segments", indirect(BLKIF_OP_WRITE, P, 0, [ind.ref]));
  await send(a, "indirect 257 segments", indirect(BLKIF_OP_WRITE, P, 257, [ind.ref]));
  await send(a, "indirect page gref 9999", indirect(BLKIF_OP_WRITE, P, 1, [9999]));
  await send(a, "indirect page of another domain", indirect(BLKIF_OP_WRITE, P, 1, [foreign.ref]));
  putSegments(ind.bytes, [poisonSeg, [poison.ref, 0, 8]]);
  await send(a, "indirect last_sect 8", indirect(BLKIF_OP_WRITE, P, 2, [ind.ref]));
  putSegments(ind.bytes, [poisonSeg, [9999, 0, 7]]);
  await send(a, "indirect segment gref 9999", indirect(BLKIF_OP_WRITE, P, 2, [ind.ref]));
  putSegments(
    ind.bytes,
    Array.from({ length: 20 }, () => poisonSeg),
  );
  await send(a, "indirect past the end", indirect(BLKIF_OP_WRITE, end - 8n, 20, [ind.ref]));

  // Still serving: a write, a flush, and reads of both disks.
  page(2).bytes.fill(0x88);
  await send(a, "good write after", direct(BLKIF_OP_WRITE, 300n, [whole(2)]));
  await send(a, "flush", direct(BLKIF_OP_FLUSH_DISKCACHE, 0n, [], 0));
  await send(a, "good read after", direct(BLKIF_OP_READ, 300n, [whole(3)]));
  checks.goodReadAfter = page(3).bytes.every((x) => x === 0x88);
  await send(b, "good read of read-only disk", direct(BLKIF_OP_READ, 8n, [whole(4)]));
  checks.goodReadB = page(4).bytes.every((x, j) => x === patternB(8 * 512 + j));
  k.print(JSON.stringify({ phase: "probed", status, dirty, checks }));

  k.print(JSON.stringify({ phase: "raced", ...(await race(a, filledPage(k, 0, 0))) }));

  // The lie: req_prod a ring and more ahead of what we wrote. xvda must be dropped...
  a.pushAhead(33);
  const be = await k.xenstore.read(`${a.fe}/backend`);
  let done: (s: string) => void = () => undefined;
  const closed = new Promise<string>((r) => (done = r));
  const unwatch = await k.xenstore.watch(`${be}/state`, () => {
    void k.xenstore.tryRead(`${be}/state`).then((s) => s === "5" && done(s));
  });
  const backendState = await closed;
  await unwatch();
  // ...and xvdb, a device of the same guest, still served.
  const id = nextId();
  const after = await b.send(direct(BLKIF_OP_READ, 16n, [whole(5)])(id));
  const readAfterOverrun = after.status === 0 && page(5).bytes.every((x, j) => x === patternB(16 * 512 + j));
  k.print(JSON.stringify({ phase: "overrun", backendState, readAfterOverrun }));
  await new Promise<never>(() => {}); // stay up: the test checks that nobody crashed
}

/**
 * Time of check against time of use: a one-sector write to the disk's last sector, whose slot we
 * keep rewriting after publishing it — to 8 sectors (past the end), to the sector past the end, to
 * 2^63 — until dom0 answers. The backend copies the slot once and checks the copy, so whatever it
 * serves passed the checks: the write as published (landing in the last sector), or a copy taken
 * half-way through one of our 8-byte rewrites — a torn sector number nobody wrote whole, such as 0
 * or 255, checked like any other and so inside the disk — or a refusal. The page holds one value
 * per round; the test checks that every sector that changed holds one OKAY round's value and that
 * nothing past the disk's end changed.
 */
async function race(a: RawFront, page: { ref: number; bytes: Uint8Array }) {
  const last = BigInt(a.sectors - 1);
  const rounds = 200;
  let ok = 0;
  let refused = 0;
  let other = 0;
  const okValues: number[] = [];
  let flips = 0;
  for (let i = 0; i < rounds; i++) {
    const value = (i % 250) + 1;
    page.bytes.fill(value);
    const { view, off } = a.nextSlot();
    BlkifRequest.encode(view, off, {
      operation: BLKIF_OP_WRITE,
      nr_segments: 1,
      handle: 0,
      id: BigInt(i),
      sector_number: last,
      seg: [{ gref: page.ref, first_sect: 0, last_sect: 0 }],
    });
    a.push();
    // Spin on rsp_prod while flipping; bounded, so a backend slow to answer (a busy host) costs a
    // few milliseconds of spinning per round, then we wait for its event like any frontend.
    for (let f = 0; f < 100_000 && !a.answered(); f++, flips++) {
      switch (f & 3) {
        case 0:
          view.setUint8(off + 24 + 5, 7); // last_sect 7: 8 sectors from the last one
          break;
        case 1:
          view.setUint8(off + 24 + 5, 0);
          view.setBigUint64(off + 16, last + 1n, true); // the sector past the end
          break;
        case 2:
          view.setBigUint64(off + 16, 2n ** 63n, true);
          break;
        case 3:
          view.setBigUint64(off + 16, last, true); // as published
          break;
      }
    }
    const r = await a.response();
    if (r.status === 0) (ok++, okValues.push(value));
    else if (r.status === -1) refused++;
    else other++;
  }
  return { rounds, ok, refused, other, okValues, flips };
}
