/**
 * netfront's data path for one queue. Tx: a frame is copied into pages of the grant pool (one
 * descriptor per page, at most VMXNET_MAX_TX_DESC_PER_PKT), its first descriptor published last so
 * the backend never sees half a frame, and an offload request (TxOffload) on that first descriptor;
 * the backend's completion for the last descriptor returns every page up to it. Completions are
 * reaped as we send, without an event each (VMXNET_INTR_TX masked) until we run out of room. Rx: head buffers (half pages) are kept posted on ring 0 and, for an MTU that needs
 * them, body buffers (pages) on ring 1; each completed frame is copied out, its buffers posted again,
 * and the frame handed to the receiver. The backend is not trusted: a completion naming a slot we
 * have nothing in, or lengths past a buffer, is dropped and counted.
 */
import {
  VMXNET_INTR_TX,
  VMXNET_MAX_FRAME,
  VMXNET_MAX_TX_DESC_PER_PKT,
  VMXNET_OM_CSUM,
  VMXNET_OM_NONE,
  VMXNET_OM_TSO,
  VMXNET_RXC_EOP,
  VMXNET_RXC_ERR,
  VMXNET_RXC_SOP,
  VMXNET_RXD_BTYPE_BODY,
  VMXNET_TXC_OK,
  VMXNET_TXD_CQ,
  VMXNET_TXD_EOP,
  VMXNET_TXD_OM_SHIFT,
  VmxnetQueueCtrl,
  VmxnetRxCompDesc,
  VmxnetRxDesc,
  VmxnetTxCompDesc,
  VmxnetTxDesc,
} from "@pvkit/abi/layout";
import type { GrantPool, PoolPage } from "../blk/front-pool.ts";
import { GenConsumer, GenProducer } from "./gen-ring.ts";
import { PAGE_SIZE, type QueuePage, RING, RxDescFast } from "./protocol.ts";

export interface FrontStats {
  txFrames: number;
  txBytes: number;
  txErrors: number;
  rxFrames: number;
  rxBytes: number;
  rxErrors: number;
  notifies: number;
}

const HEAD_BUF = PAGE_SIZE / 2;
/** The most buffers one frame can fill: a head buffer and the pages of the largest frame. */
const MAX_RX_PARTS = 1 + Math.ceil(VMXNET_MAX_FRAME / PAGE_SIZE);
/** rx descriptors' reserved bytes: never written (RxDescFast). */
const NO_RESERVED = new Uint8Array(6);
const CTRL = {
  txProd: VmxnetQueueCtrl.offsets.tx_prod / 4,
  txDeferred: VmxnetQueueCtrl.offsets.tx_num_deferred / 4,
  rxProd0: VmxnetQueueCtrl.offsets.rx_prod / 4,
  updateRxProd: VmxnetQueueCtrl.offsets.update_rx_prod / 4,
  intrMask: VmxnetQueueCtrl.offsets.intr_mask / 4,
};

/**
 * What the backend should finish for a frame (VMXNET_F_TXCSUM / VMXNET_F_TSO, offload.ts):
 *  - csum: the L4 checksum; `start` is where the L4 header begins, `offset` where its checksum field
 *    is, counted from `start` (Linux's csum_start/csum_offset). The field must hold the
 *    pseudo-header's sum already, as Linux leaves it for CHECKSUM_PARTIAL.
 *  - tso: a TCP/IPv4 frame of up to 64 KiB, cut by the backend into segments of `mss` payload bytes;
 *    `hdrLen` is the Ethernet + IP + TCP header bytes.
 */
export type TxOffload =
  { csum: { start: number; offset: number } } | { tso: { mss: number; hdrLen: number } };

/** The descriptor fields an offload request sets on a frame's first descriptor. */
function offloadFields(o: TxOffload | undefined): { om: number; hdr_len: number; msscof: number } {
  if (!o) return { om: VMXNET_OM_NONE, hdr_len: 0, msscof: 0 };
  if ("csum" in o) return { om: VMXNET_OM_CSUM, hdr_len: o.csum.start, msscof: o.csum.start + o.csum.offset };
  return { om: VMXNET_OM_TSO, hdr_len: o.tso.hdrLen, msscof: o.tso.mss };
}

interface RxBuf {
  page: PoolPage;
  offset: number;
  len: number;
}

export class NetfrontQueue {
  readonly stats: FrontStats = {
    txFrames: 0,
    txBytes: 0,
    txErrors: 0,
    rxFrames: 0,
    rxBytes: 0,
    rxErrors: 0,
    notifies: 0,
  };
  private readonly tx: GenProducer<VmxnetTxDesc>;
  private readonly txComp: GenConsumer<VmxnetTxCompDesc>;
  private readonly rx: [GenProducer<VmxnetRxDesc>, GenProducer<VmxnetRxDesc>];
  private readonly rxComp: GenConsumer<VmxnetRxCompDesc>;
  private readonly ctrl: Int32Array;
  /** The page behind each tx slot until its frame completes (index = slot). */
  private readonly txSlots: (PoolPage | null | undefined)[] = new Array(RING.tx).fill(undefined);
  private txOldest = 0;
  private txUsed = 0;
  private readonly rxSlots: [(RxBuf | undefined)[], (RxBuf | undefined)[]] = [
    new Array(RING.rx),
    new Array(RING.rx),
  ];
  private readonly waiting: {
    frame: Uint8Array;
    offload: TxOffload | undefined;
    resolve(): void;
    reject(e: Error): void;
  }[] = [];
  private kickQueued = false;
  /**
   * The buffers of the frame being received, held (not posted again) until its last completion,
   * so that it is copied out once, into one array: a large-receive frame spans 17 buffers, and an
   * array per buffer plus one to join them was most of what this guest's collector had to do.
   */
  private partial: { ring: 0 | 1; buf: RxBuf; len: number }[] = [];
  private partialBad = false;
  private closed = false;

  constructor(
    pages: Record<QueuePage, DataView>,
    private readonly pool: GrantPool,
    /** Body buffers (a page each) to keep posted on ring 1. */
    private readonly bodyBuffers: number,
    private readonly notify: () => void,
    private readonly receive: (frame: Uint8Array, flags: number) => void,
  ) {
    this.tx = new GenProducer(pages["tx-ring"], RING.tx, VmxnetTxDesc);
    this.txComp = new GenConsumer(pages["tx-comp-ring"], RING.txComp, VmxnetTxCompDesc);
    this.rx = [
      new GenProducer(pages["rx-ring0"], RING.rx, RxDescFast),
      new GenProducer(pages["rx-ring1"], RING.rx, RxDescFast),
    ];
    this.rxComp = new GenConsumer(pages["rx-comp-ring"], RING.rxComp, VmxnetRxCompDesc);
    this.ctrl = new Int32Array(pages.ctrl.buffer, pages.ctrl.byteOffset, VmxnetQueueCtrl.size / 4);
  }

  /** Posts the receive buffers: every head slot, and the body buffers (jumbo MTU, large receive). */
  start(): void {
    this.maskTxEvents(true);
    // Two head buffers per page: take pages one at a time and post both halves.
    for (let i = 0; i < RING.rx; i += 2) {
      const page = this.pool.take(1)?.[0];
      if (!page) break;
      this.post(0, { page, offset: 0, len: HEAD_BUF });
      this.post(0, { page, offset: HEAD_BUF, len: HEAD_BUF });
    }
    for (let i = 0; i < Math.min(this.bodyBuffers, RING.rx); i++) {
      const page = this.pool.take(1)?.[0];
      if (!page) break;
      this.post(1, { page, offset: 0, len: PAGE_SIZE });
    }
    this.kickSoon();
  }

  /**
   * Queues a frame for the backend; resolves once it is on the ring (not once it is sent). The
   * frame is the caller's again when send returns: it is copied into the ring's pages, or, while
   * the ring is full, into the queue of frames waiting for room — so a sender may build every frame
   * in one reused array instead of allocating one per frame.
   */
  send(frame: Uint8Array, offload?: TxOffload): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the network device is closed"));
    const pages = Math.ceil(frame.length / PAGE_SIZE);
    if (frame.length === 0 || pages > VMXNET_MAX_TX_DESC_PER_PKT)
      return Promise.reject(
        new RangeError(`a ${frame.length}-byte frame does not fit ${VMXNET_MAX_TX_DESC_PER_PKT} pages`),
      );
    // Take back what the backend has finished with (its events for that are masked), then queue.
    this.reapTx();
    if (this.waiting.length === 0 && this.tryPut(frame, offload)) return Promise.resolve();
    // No room: ask for an event when the backend finishes more (unmask first, then look again,
    // so a completion written in between is not missed).
    const queued = new Promise<void>((resolve, reject) =>
      this.waiting.push({ frame: frame.slice(), offload, resolve, reject }),
    );
    this.maskTxEvents(false);
    this.reapTx();
    this.drainWaiting();
    return queued;
  }

  /** Puts waiting frames on the ring while there is room; masks tx events again once none waits. */
  private drainWaiting(): void {
    while (this.waiting.length > 0 && this.tryPut(this.waiting[0]!.frame, this.waiting[0]!.offload))
      this.waiting.shift()!.resolve();
    // Nobody waits for room: tx completions can wait for our next send again (see send()).
    if (this.waiting.length === 0) this.maskTxEvents(true);
  }

  /** Takes every tx completion the backend wrote: their pages and slots are ours again. */
  private reapTx(): void {
    for (let c = this.txComp.take(); c; c = this.txComp.take()) this.txDone(c.desc);
  }

  /**
   * vmxnet3's interrupt mask, for tx completions only: while we have room to send we do not need an
   * event per batch of completions (each one wakes this vCPU); we reap them as we send.
   */
  private maskTxEvents(masked: boolean): void {
    if (masked) Atomics.or(this.ctrl, CTRL.intrMask, VMXNET_INTR_TX);
    else Atomics.and(this.ctrl, CTRL.intrMask, ~VMXNET_INTR_TX);
  }

  /** The backend signalled: completions in, waiting frames out. */
  onEvent(): void {
    if (this.closed) return;
    this.reapTx();
    for (let c = this.rxComp.take(); c; c = this.rxComp.take()) this.rxDone(c.desc);
    this.drainWaiting();
    if (Atomics.load(this.ctrl, CTRL.updateRxProd)) {
      Atomics.store(this.ctrl, CTRL.updateRxProd, 0);
      this.kickSoon();
    }
  }

  /** Stops the queue and gives every page it holds (posted buffers, frames in flight) back to the pool. */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new Error("the network device closed"));
    const held = new Set<PoolPage>();
    for (const slots of this.rxSlots) for (const b of slots.splice(0)) if (b) held.add(b.page);
    for (const p of this.partial.splice(0)) held.add(p.buf.page);
    for (const page of this.txSlots.splice(0)) if (page) held.add(page);
    this.pool.give([...held]);
  }

  private tryPut(frame: Uint8Array, offload: TxOffload | undefined): boolean {
    const n = Math.ceil(frame.length / PAGE_SIZE);
    if (RING.tx - this.txUsed < n) return false;
    const pages = this.pool.take(n);
    if (!pages) return false;
    const o = offloadFields(offload);
    let first: { index: number; flags: number } | undefined;
    pages.forEach((page, i) => {
      const len = Math.min(PAGE_SIZE, frame.length - i * PAGE_SIZE);
      page.bytes.set(frame.subarray(i * PAGE_SIZE, i * PAGE_SIZE + len));
      const last = i === n - 1;
      const slot = this.tx.put(
        {
          gref: page.ref,
          offset: 0,
          len,
          hdr_len: i === 0 ? o.hdr_len : 0,
          msscof: i === 0 ? o.msscof : 0,
          tci: 0,
          flags: (last ? VMXNET_TXD_EOP | VMXNET_TXD_CQ : 0) | (i === 0 ? o.om << VMXNET_TXD_OM_SHIFT : 0),
        },
        i !== 0, // the first descriptor is published last
      );
      this.txSlots[slot.index] = page;
      if (i === 0) first = slot;
    });
    this.txUsed += n;
    this.tx.publishAt(first!.index, first!.flags);
    Atomics.store(this.ctrl, CTRL.txProd, this.tx.next);
    Atomics.add(this.ctrl, CTRL.txDeferred, 1);
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    this.kickSoon();
    return true;
  }

  /** Every slot from the oldest in flight up to and including `txd_idx` is free again. */
  private txDone(c: VmxnetTxCompDesc): void {
    if (c.txd_idx >= RING.tx || this.txSlots[c.txd_idx] === undefined) {
      this.stats.txErrors++;
      return; // names nothing we sent: ignore it
    }
    if (c.status !== VMXNET_TXC_OK) this.stats.txErrors++;
    for (;;) {
      const i = this.txOldest;
      const page = this.txSlots[i];
      this.txSlots[i] = undefined;
      if (page) this.pool.give([page]);
      this.txOldest = (i + 1) % RING.tx;
      this.txUsed--;
      if (i === c.txd_idx || this.txUsed === 0) break;
    }
  }

  private rxDone(c: VmxnetRxCompDesc): void {
    const ring = c.ring_id === 1 ? 1 : 0;
    const buf = c.ring_id <= 1 && c.rxd_idx < RING.rx ? this.rxSlots[ring][c.rxd_idx] : undefined;
    if (!buf) {
      this.stats.rxErrors++;
      return;
    }
    this.rxSlots[ring][c.rxd_idx] = undefined;
    if (c.flags & VMXNET_RXC_SOP) this.repostPartial(); // a frame left without its end is dropped
    if (c.flags & VMXNET_RXC_ERR || c.len > buf.len) this.partialBad = true;
    this.partial.push({ ring, buf, len: c.len });
    if (this.partial.length > MAX_RX_PARTS) {
      // More buffers than any frame needs and still no end: a lying backend. Drop, post again.
      this.stats.rxErrors++;
      this.repostPartial();
      return;
    }
    if (!(c.flags & VMXNET_RXC_EOP)) return;
    const bad = this.partialBad;
    const frame = bad ? undefined : this.copyPartial();
    this.repostPartial();
    if (!frame) {
      this.stats.rxErrors++;
      return;
    }
    this.stats.rxFrames++;
    this.stats.rxBytes += frame.length;
    this.receive(frame, c.flags);
  }

  /** The frame in the held buffers, copied out into one array. */
  private copyPartial(): Uint8Array {
    let total = 0;
    for (const p of this.partial) total += p.len;
    const frame = new Uint8Array(total);
    let at = 0;
    for (const { buf, len } of this.partial) {
      frame.set(buf.page.bytes.subarray(buf.offset, buf.offset + len), at);
      at += len;
    }
    return frame;
  }

  /** The held buffers go back to the backend, and the next frame starts clean. */
  private repostPartial(): void {
    for (const { ring, buf } of this.partial) this.post(ring, buf);
    this.partial = [];
    this.partialBad = false;
  }

  private post(ring: 0 | 1, buf: RxBuf): void {
    const slot = this.rx[ring].put({
      gref: buf.page.ref,
      offset: buf.offset,
      len: buf.len,
      rsvd: NO_RESERVED,
      flags: ring === 1 ? VMXNET_RXD_BTYPE_BODY : 0,
    });
    this.rxSlots[ring][slot.index] = buf;
    Atomics.store(this.ctrl, CTRL.rxProd0 + ring, this.rx[ring].next);
  }

  /**
   * One event for everything queued in this turn of the event loop. setImmediate, not a microtask:
   * a program that sends in a loop (`await eth.send(f)` resolves in a microtask) would otherwise
   * get one event per frame, and an event costs far more than a frame (a hypercall, a wake-up of
   * dom0's process).
   */
  private kickSoon(): void {
    if (this.kickQueued) return;
    this.kickQueued = true;
    setImmediate(() => {
      this.kickQueued = false;
      if (this.closed) return;
      Atomics.store(this.ctrl, CTRL.txDeferred, 0);
      this.stats.notifies++;
      this.notify();
    });
  }
}
