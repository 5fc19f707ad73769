/**
 * Shared rings in the io/ring.h style: a 64-byte header of free-running indices (req_prod, req_event,
 * rsp_prod, rsp_event) and a power-of-two array of slots holding a request or a response, over one
 * page or several (blkif's ring-page-order: 2^order pages, each granted on its own, so the slots are
 * laid over a list of page views and may straddle two of them). The front end produces requests and
 * consumes responses; the back end the reverse. Each side writes only its own indices, and reads the
 * other side's exactly once per batch (no double fetch): a slot is copied out once and decoded from
 * the copy, and a peer whose producer index runs more than a ring ahead is reported as corrupt
 * instead of being followed.
 */
import type { RingLayout, StructCodec } from "@pvkit/abi";

const REQ_PROD = 0;
const REQ_EVENT = 1;
const RSP_PROD = 2;
const RSP_EVENT = 3;

const PAGE_SIZE = 4096;

/**
 * The layout of `layout`'s ring spread over 2^order pages: the same header and slot size, and as many
 * slots as fit, rounded down to a power of two (__RING_SIZE). Order 0 is the layout itself.
 */
export function multiPageLayout<Req, Rsp>(layout: RingLayout<Req, Rsp>, order: number): RingLayout<Req, Rsp> {
  if (!Number.isInteger(order) || order < 0 || order > 4) throw new RangeError(`ring page order ${order}`);
  if (order === 0) return layout;
  const fit = Math.floor((PAGE_SIZE * 2 ** order - layout.headerSize) / layout.entrySize);
  const entries = 2 ** Math.floor(Math.log2(fit));
  return {
    ...layout,
    entries,
    entryOffset: (index: number) => layout.headerSize + (index & (entries - 1)) * layout.entrySize,
  };
}

/** The bytes of a ring laid over pages that need not be adjacent. */
class PagedBytes {
  private readonly pages: Uint8Array[];

  constructor(views: readonly DataView[]) {
    this.pages = views.map((v) => new Uint8Array(v.buffer, v.byteOffset, PAGE_SIZE));
  }

  get length(): number {
    return this.pages.length * PAGE_SIZE;
  }

  /** A private copy of [off, off + len), into `out` when given (it must hold `len` bytes). */
  copyOut(off: number, len: number, out: Uint8Array = new Uint8Array(len)): Uint8Array {
    for (let done = 0; done < len;) {
      const at = off + done;
      const page = this.pages[Math.floor(at / PAGE_SIZE)]!;
      const inPage = at % PAGE_SIZE;
      const n = Math.min(len - done, PAGE_SIZE - inPage);
      out.set(page.subarray(inPage, inPage + n), done);
      done += n;
    }
    return out;
  }

  /** Copies the first `len` bytes of `bytes` in at `off`. */
  copyIn(off: number, bytes: Uint8Array, len = bytes.length): void {
    for (let done = 0; done < len;) {
      const at = off + done;
      const page = this.pages[Math.floor(at / PAGE_SIZE)]!;
      const inPage = at % PAGE_SIZE;
      const n = Math.min(len - done, PAGE_SIZE - inPage);
      page.set(bytes.subarray(done, done + n), inPage);
      done += n;
    }
  }
}

class RingSide<Req, Rsp> {
  protected readonly idx: Int32Array;
  protected readonly bytes: PagedBytes;
  /**
   * One slot's worth of private memory, reused: a record is encoded here before it is copied in, and
   * a response copied out here before it is decoded. Two buffers made per message were much of a
   * busy ring's garbage (and, in a domU, two passes through the allocation gate).
   */
  private readonly scratch: Uint8Array;
  private readonly scratchView: DataView;

  constructor(
    pages: DataView | readonly DataView[],
    readonly layout: RingLayout<Req, Rsp>,
  ) {
    const list = Array.isArray(pages) ? pages : [pages as DataView];
    this.bytes = new PagedBytes(list);
    if (layout.entryOffset(layout.entries - 1) + layout.entrySize > this.bytes.length)
      throw new RangeError(`${layout.name}: ${layout.entries} slots do not fit in ${list.length} page(s)`);
    const first = list[0]!;
    this.idx = new Int32Array(first.buffer, first.byteOffset, 4);
    this.scratch = new Uint8Array(layout.entrySize);
    this.scratchView = new DataView(this.scratch.buffer);
  }

  protected load(i: number): number {
    return Atomics.load(this.idx, i) >>> 0;
  }

  protected store(i: number, v: number): void {
    Atomics.store(this.idx, i, v | 0);
  }

  /** RING_PUSH_*_AND_CHECK_NOTIFY: publish `newProd` and say whether the peer asked to be told. */
  protected push(prodIdx: number, eventIdx: number, newProd: number): boolean {
    const old = this.load(prodIdx);
    this.store(prodIdx, newProd);
    const event = this.load(eventIdx);
    return (newProd - event) >>> 0 < (newProd - old) >>> 0;
  }

  /** Copies slot `i` out once: the whole slot, for a caller that decodes by its first byte. */
  protected copySlot(i: number): Uint8Array {
    return this.bytes.copyOut(this.layout.entryOffset(i), this.layout.entrySize);
  }

  /** Slot `i` decoded from a private copy of it (the copy is reused: decode before anything else). */
  protected decodeSlot<T>(i: number, codec: StructCodec<T>): T {
    this.bytes.copyOut(this.layout.entryOffset(i), this.layout.entrySize, this.scratch);
    return codec.decode(this.scratchView, 0);
  }

  /** Encodes into a zeroed private buffer first, so no byte of the slot's record is left as it was. */
  protected writeSlot<T>(i: number, codec: StructCodec<T>, value: T): void {
    if (codec.size > this.scratch.length)
      throw new RangeError(`${this.layout.name}: a ${codec.name} does not fit a slot`);
    this.scratch.fill(0, 0, codec.size);
    codec.encode(this.scratchView, 0, value);
    this.bytes.copyIn(this.layout.entryOffset(i), this.scratch, codec.size);
  }
}

/** The front end (blkfront, netfront): requests out, responses in. */
export class FrontRing<Req, Rsp> extends RingSide<Req, Rsp> {
  private reqProdPvt = 0;
  private rspCons = 0;

  /** SHARED_RING_INIT + FRONT_RING_INIT: a fresh page. */
  init(): void {
    this.bytes.copyIn(0, new Uint8Array(this.layout.headerSize));
    this.store(REQ_EVENT, 1);
    this.store(RSP_EVENT, 1);
    this.reqProdPvt = 0;
    this.rspCons = 0;
  }

  /** Free slots for new requests (RING_FREE_REQUESTS). */
  get free(): number {
    return this.layout.entries - ((this.reqProdPvt - this.rspCons) >>> 0);
  }

  /** Queues a request (not yet visible to the back end). Throws when the ring is full. */
  put(req: Req): void {
    this.putWith(this.layout.request, req);
  }

  /** Queues a request of another shape that shares the slot (blkif's discard and indirect requests). */
  putWith<T>(codec: StructCodec<T>, req: T): void {
    if (this.free <= 0) throw new RangeError(`${this.layout.name} ring full`);
    this.writeSlot(this.reqProdPvt, codec, req);
    this.reqProdPvt = (this.reqProdPvt + 1) >>> 0;
  }

  /** Makes queued requests visible; true when the back end must be notified. */
  pushRequests(): boolean {
    return this.push(REQ_PROD, REQ_EVENT, this.reqProdPvt);
  }

  /** Takes every response the back end published (RING_FINAL_CHECK_FOR_RESPONSES included). */
  takeResponses(): Rsp[] {
    const out: Rsp[] = [];
    const codec = this.layout.response;
    for (;;) {
      const prod = this.load(RSP_PROD);
      if ((prod - this.rspCons) >>> 0 > (this.reqProdPvt - this.rspCons) >>> 0)
        throw new Error(`${this.layout.name}: back end's rsp_prod is corrupt`);
      while (this.rspCons !== prod) {
        out.push(this.decodeSlot(this.rspCons, codec));
        this.rspCons = (this.rspCons + 1) >>> 0;
      }
      this.store(RSP_EVENT, (this.rspCons + 1) >>> 0);
      if (this.load(RSP_PROD) === prod) return out;
    }
  }
}

/** The back end (blkback, netback): requests in, responses out. */
export class BackRing<Req, Rsp> extends RingSide<Req, Rsp> {
  private reqCons = 0;
  private rspProdPvt = 0;

  /** Takes every request the front end published, decoded with the layout's request codec. */
  takeRequests(): Req[] {
    const codec = this.layout.request;
    return this.takeRequestBytes().map((b) => codec.decode(new DataView(b.buffer), 0));
  }

  /**
   * Takes every request the front end published as private copies of their slots, for a back end
   * that decodes by operation. A producer index more than a ring ahead of what we consumed (or of
   * the responses still owed) throws: the caller disconnects such a front end.
   */
  takeRequestBytes(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (;;) {
      const prod = this.load(REQ_PROD);
      const owed = (this.reqCons - this.rspProdPvt) >>> 0;
      if ((prod - this.reqCons) >>> 0 > this.layout.entries - owed)
        throw new Error(`${this.layout.name}: front end's req_prod is corrupt`);
      while (this.reqCons !== prod) {
        out.push(this.copySlot(this.reqCons));
        this.reqCons = (this.reqCons + 1) >>> 0;
      }
      this.store(REQ_EVENT, (this.reqCons + 1) >>> 0);
      if (this.load(REQ_PROD) === prod) return out;
    }
  }

  /** Queues a response in the next slot. */
  put(rsp: Rsp): void {
    this.writeSlot(this.rspProdPvt, this.layout.response, rsp);
    this.rspProdPvt = (this.rspProdPvt + 1) >>> 0;
  }

  /** Publishes queued responses; true when the front end must be notified. */
  pushResponses(): boolean {
    return this.push(RSP_PROD, RSP_EVENT, this.rspProdPvt);
  }
}
