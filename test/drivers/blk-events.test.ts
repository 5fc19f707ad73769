/**
 * How often blkback tells a frontend about responses. A read the host's page cache answers is
 * published the moment it is copied, so the frontend can work on it while the backend copies the
 * next; but the frontend decides (rsp_event) whether it wants an event, and one that asks after
 * every response must not turn each response into an event — a hypercall of dom0's, and a wake-up
 * of the guest. Here the ring is played by the test: its frontend always asks.
 */
import { describe, expect, it } from "vitest";
import {
  BLKIF_OP_READ,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
  BlkifRequest,
  type BlkifResponse,
} from "@pvkit/abi/layout";
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

/** A request of an operation blkback does not know: refused, and answered at the turn's end. */
function unknownSlot(i: number): Uint8Array {
  const slot = readSlot(i);
  slot[0] = 99;
  return slot;
}

type Readv = (bufs: Uint8Array[]) => Promise<void> | undefined;
const cachedRead: Readv = () => undefined; // the page cache held it all: done
const diskRead: Readv = (bufs) => Promise.resolve(bufs.forEach((v) => v.fill(1)));

function backend(requests: number, readv: Readv, slots = (i: number) => readSlot(i)) {
  const responses: BlkifResponse[] = [];
  let pushed = 0;
  let events = 0;
  const held = new Map<number, number>();
  const ring = {
    takeRequestBytes: () => Array.from({ length: requests }, (_, i) => slots(i)),
    put: (r: BlkifResponse) => void responses.push(r),
    // A frontend that re-arms rsp_event after every response it reads: every push "asks".
    pushResponses: () => (pushed = responses.length) > 0,
  } as unknown as BackRing<never, BlkifResponse>;
  const page = new Uint8Array(4096);
  const grants = {
    acquireAll: (refs: readonly number[]) => refs.map((r) => (held.set(r, (held.get(r) ?? 0) + 1), page)),
    release: (r: number) => held.set(r, held.get(r)! - 1),
    copy: () => undefined,
  } as unknown as PersistentGrants;
  const b = new BlkbackRing({
    ring,
    disk: { sectors: 8 * requests, readonly: false, flush: true, discard: false, maxIndirectSegments: 0 },
    store: {
      bytes: 4096 * requests,
      readonly: false,
      discards: false,
      readv,
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
  const stillHeld = () => [...held.values()].filter((n) => n !== 0).length;
  return { b, responses, events: () => events, pushed: () => pushed, stillHeld };
}

const turn = () => new Promise((r) => setImmediate(r));

describe("blkback's events", () => {
  it("publishes each cached read as it is copied, with two events a kick however often the frontend asks", async () => {
    const { b, responses, events, pushed, stillHeld } = backend(32, cachedRead);
    b.kick();
    // Published before kick() returned: each response as its copy ended.
    expect(pushed()).toBe(32);
    await turn();
    expect(responses.map((r) => [r.id, r.status])).toEqual(
      Array.from({ length: 32 }, (_, i) => [BigInt(i), BLKIF_RSP_OKAY]),
    );
    expect(events()).toBe(2); // the first at once, the rest owed until the turn's end
    expect(stillHeld()).toBe(0);
  });

  it("owes one event at the turn's end for cached reads and a refusal together", async () => {
    const { b, responses, events } = backend(3, cachedRead, (i) => (i < 2 ? readSlot(i) : unknownSlot(i)));
    b.kick();
    await turn();
    expect(responses.map((r) => r.id)).toEqual([0n, 1n, 2n]);
    expect(events()).toBe(2);
  });

  it("fails a read whose store throws at once with BLKIF_RSP_ERROR, holding nothing", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => void unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
      const { b, responses, stillHeld } = backend(2, () => {
        throw new Error("preadv2: EIO");
      });
      b.kick();
      await turn();
      await turn();
      expect(responses.map((r) => [r.id, r.status])).toEqual([
        [0n, BLKIF_RSP_ERROR],
        [1n, BLKIF_RSP_ERROR],
      ]);
      expect(stillHeld()).toBe(0);
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("answers reads the cache did not hold together, with one event", async () => {
    const { b, responses, events } = backend(32, diskRead);
    b.kick();
    expect(responses).toHaveLength(0);
    await turn();
    expect(responses).toHaveLength(32);
    expect(events()).toBe(1);
  });
});
