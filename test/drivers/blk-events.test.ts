/**
 * How often blkback tells a frontend about responses. A read the host's page cache answers is
 * published the moment it is copied, so the frontend can work on it while the backend copies the
 * next; but the frontend decides (rsp_event) whether it wants an event, and one that asks after
 * every response must not turn each response into an event — a hypercall of dom0's, and a wake-up
 * of the guest. Here the ring is played by the test: its frontend always asks.
 */
import { describe, expect, it } from "vitest";
import { BLKIF_OP_READ, BLKIF_RSP_OKAY, BlkifRequest, type BlkifResponse } from "@pvkit/abi/layout";
import { BlkbackRing } from "@pvkit/drivers/blk/back-ring";
import type { PersistentGrants } from "@pvkit/drivers/blk/back-grants";
import type { BackRing } from "@pvkit/drivers/ring";

/** A 4 KiB read of sector `8 * i` into grant `i`, as a frontend would put it in a slot. */
function readSlot(i: number): Uint8Array {
  const slot = new Uint8Array(BlkifRequest.size);
  BlkifRequest.encode(new DataView(slot.buffer), 0, {
    operation: BLKIF_OP_READ,
    nr_segments: 1,
    handle: 0,
    id: BigInt(i),
    sector_number: BigInt(8 * i),
    seg: [{ gref: i, first_sect: 0, last_sect: 7 }],
  });
  return slot;
}

function backend(requests: number, cached: boolean) {
  const responses: BlkifResponse[] = [];
  let pushed = 0;
  let events = 0;
  const ring = {
    takeRequestBytes: () => Array.from({ length: requests }, (_, i) => readSlot(i)),
    put: (r: BlkifResponse) => void responses.push(r),
    // A frontend that re-arms rsp_event after every response it reads: every push "asks".
    pushResponses: () => (pushed = responses.length) > 0,
  } as unknown as BackRing<never, BlkifResponse>;
  const page = new Uint8Array(4096);
  const grants = {
    acquireAll: (refs: readonly number[]) => refs.map(() => page),
    release: () => {},
    copy: () => undefined,
  } as unknown as PersistentGrants;
  const b = new BlkbackRing({
    ring,
    disk: { sectors: 8 * requests, readonly: false, flush: true, discard: false, maxIndirectSegments: 0 },
    store: {
      bytes: 4096 * requests,
      readonly: false,
      discards: false,
      // The page cache holds everything (returns nothing: done), or nothing (a promise).
      readv: (bufs) => (cached ? undefined : Promise.resolve(bufs.forEach((v) => v.fill(1)))),
      writev: () => Promise.resolve(),
      flush: () => Promise.resolve(),
      discard: () => Promise.resolve(),
      close: () => Promise.resolve(),
    },
    grants,
    notify: () => void events++,
    log: () => {},
    onCorrupt: (why) => {
      throw new Error(why);
    },
  });
  return { b, responses, events: () => events, pushed: () => pushed };
}

const turn = () => new Promise((r) => setImmediate(r));

describe("blkback's events", () => {
  it("publishes each cached read as it is copied, with two events a kick however often the frontend asks", async () => {
    const { b, responses, events, pushed } = backend(32, true);
    b.kick();
    // Published before kick() returned: each response as its copy ended.
    expect(pushed()).toBe(32);
    await turn();
    expect(responses.map((r) => [r.id, r.status])).toEqual(
      Array.from({ length: 32 }, (_, i) => [BigInt(i), BLKIF_RSP_OKAY]),
    );
    expect(events()).toBe(2); // the first at once, the rest owed until the turn's end
  });

  it("answers reads the cache did not hold together, with one event", async () => {
    const { b, responses, events } = backend(32, false);
    b.kick();
    expect(responses).toHaveLength(0);
    await turn();
    expect(responses).toHaveLength(32);
    expect(events()).toBe(1);
  });
});
