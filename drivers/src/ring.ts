/**
 * Shared rings in the io/ring.h style: one page, a 64-byte header of free-running indices
 * (req_prod, req_event, rsp_prod, rsp_event) and a power-of-two array of slots holding a request or a
 * response. The front end produces requests and consumes responses; the back end the reverse. Each side
 * writes only its own indices, and reads the other side's exactly once per batch (no double fetch):
 * a slot is decoded from one copy, and a peer whose producer index runs more than a ring ahead is
 * reported as corrupt instead of being followed.
 */
import type { RingLayout } from "@pvkit/abi";

const REQ_PROD = 0;
const REQ_EVENT = 1;
const RSP_PROD = 2;
const RSP_EVENT = 3;

class RingSide<Req, Rsp> {
  protected readonly idx: Int32Array;
  protected readonly view: DataView;

  constructor(
    page: DataView,
    readonly layout: RingLayout<Req, Rsp>,
  ) {
    this.view = page;
    this.idx = new Int32Array(page.buffer, page.byteOffset, 4);
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

  /** Copies slot `i` out once and decodes it. */
  protected readSlot<T>(i: number, codec: { decode(v: DataView, o?: number): T; size: number }): T {
    const off = this.layout.entryOffset(i);
    const copy = new Uint8Array(codec.size);
    copy.set(new Uint8Array(this.view.buffer, this.view.byteOffset + off, codec.size));
    return codec.decode(new DataView(copy.buffer), 0);
  }

  protected writeSlot<T>(i: number, codec: { encode(v: DataView, o: number, x: T): void }, value: T): void {
    codec.encode(this.view, this.layout.entryOffset(i), value);
  }
}

/** The front end (blkfront, netfront): requests out, responses in. */
export class FrontRing<Req, Rsp> extends RingSide<Req, Rsp> {
  private reqProdPvt = 0;
  private rspCons = 0;

  /** SHARED_RING_INIT + FRONT_RING_INIT: a fresh page. */
  init(): void {
    new Uint8Array(this.view.buffer, this.view.byteOffset, this.layout.headerSize).fill(0);
    this.store(REQ_EVENT, 1);
    this.store(RSP_EVENT, 1);
  }

  /** Free slots for new requests (RING_FREE_REQUESTS). */
  get free(): number {
    return this.layout.entries - ((this.reqProdPvt - this.rspCons) >>> 0);
  }

  /** Queues a request (not yet visible to the back end). Throws when the ring is full. */
  put(req: Req): void {
    if (this.free <= 0) throw new RangeError(`${this.layout.name} ring full`);
    this.writeSlot(this.reqProdPvt, this.layout.request, req);
    this.reqProdPvt = (this.reqProdPvt + 1) >>> 0;
  }

  /** Makes queued requests visible; true when the back end must be notified. */
  pushRequests(): boolean {
    return this.push(REQ_PROD, REQ_EVENT, this.reqProdPvt);
  }

  /** Takes every response the back end published (RING_FINAL_CHECK_FOR_RESPONSES included). */
  takeResponses(): Rsp[] {
    const out: Rsp[] = [];
    for (;;) {
      const prod = this.load(RSP_PROD);
      if ((prod - this.rspCons) >>> 0 > this.layout.entries)
        throw new Error(`${this.layout.name}: back end's rsp_prod is corrupt`);
      while (this.rspCons !== prod) {
        out.push(this.readSlot(this.rspCons, this.layout.response));
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

  /** Takes every request the front end published. */
  takeRequests(): Req[] {
    const out: Req[] = [];
    for (;;) {
      const prod = this.load(REQ_PROD);
      if ((prod - this.reqCons) >>> 0 > this.layout.entries)
        throw new Error(`${this.layout.name}: front end's req_prod is corrupt`);
      while (this.reqCons !== prod) {
        out.push(this.readSlot(this.reqCons, this.layout.request));
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
