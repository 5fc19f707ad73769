/**
 * The io/ring.h ring over a real SharedArrayBuffer page with blkif's layout: requests and responses
 * cross in order through many wrap-arounds, notifications follow the req_event/rsp_event protocol, and a
 * corrupt producer index is refused.
 */
import { describe, expect, it } from "vitest";
import { BLKIF_RING_SIZE, BlkifRing } from "@pvkit/abi/layout";
import { BackRing, FrontRing } from "../src/ring.ts";

const req = (id: bigint) => ({
  ...BlkifRing.request.zero(),
  operation: 0,
  nr_segments: 1,
  id,
  sector_number: id * 8n,
});

describe("FrontRing/BackRing", () => {
  it("moves requests and responses in order across wrap-around", () => {
    const page = new DataView(new SharedArrayBuffer(4096));
    const front = new FrontRing(page, BlkifRing);
    const back = new BackRing(page, BlkifRing);
    front.init();
    let next = 0n;
    for (let round = 0; round < 20; round++) {
      const n = 1 + (round % BLKIF_RING_SIZE);
      for (let i = 0; i < n; i++) front.put(req(next + BigInt(i)));
      front.pushRequests();
      const got = back.takeRequests();
      expect(got.map((r) => r.id)).toEqual(Array.from({ length: n }, (_, i) => next + BigInt(i)));
      for (const r of got)
        back.put({ ...BlkifRing.response.zero(), id: r.id, operation: r.operation, status: 0 });
      back.pushResponses();
      expect(front.takeResponses().map((r) => r.id)).toEqual(got.map((r) => r.id));
      next += BigInt(n);
    }
  });

  it("refuses to overfill, and notifies only when the peer waits", () => {
    const page = new DataView(new SharedArrayBuffer(4096));
    const front = new FrontRing(page, BlkifRing);
    const back = new BackRing(page, BlkifRing);
    front.init();
    for (let i = 0; i < BLKIF_RING_SIZE; i++) front.put(req(BigInt(i)));
    expect(() => front.put(req(99n))).toThrow(/ring full/);
    expect(front.pushRequests()).toBe(true); // the back end waits for the first request (req_event = 1)
    expect(back.takeRequests()).toHaveLength(BLKIF_RING_SIZE);
  });

  it("reports a corrupt producer index instead of reading past the ring", () => {
    const page = new DataView(new SharedArrayBuffer(4096));
    const back = new BackRing(page, BlkifRing);
    page.setUint32(0, 1000, true); // req_prod far ahead
    expect(() => back.takeRequests()).toThrow(/req_prod is corrupt/);
  });
});
