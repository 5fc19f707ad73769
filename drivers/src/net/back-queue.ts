/**
 * netback's data path for one queue of one vif. Tx: take the guest's descriptors (each copied out
 * once), check them — generation, fragment inside its page, a grant that maps, at most
 * VMXNET_MAX_TX_DESC_PER_PKT fragments, a length between a header and the MTU — copy the frame out
 * of the guest's pages into dom0's memory in one go (into one array per queue, reused: the switch
 * only borrows a frame, port.ts), do the offload the first descriptor asks for on that copy
 * (offload.ts: a checksum, or TSO's checks), answer with a completion, and hand the frame to the
 * switch. Only the copy is ever parsed: the guest may rewrite its
 * pages, not what dom0 looks at. A frame with no end within VMXNET_MAX_TX_DESC_PER_PKT descriptors
 * is dropped with every descriptor up to its end. With VMXNET_F_RXCSUM the frame's checksum results
 * go on its last rx completion.
 * Rx: the switch hands a frame; it goes into one head buffer (ring 0) and as many body buffers
 * (ring 1) as it needs, all reserved before any is taken, with one completion per buffer. A frame
 * the guest has no room for waits in a backlog (at most RX_BACKLOG_BYTES, as Linux's netback
 * queues up to rx_queue_max) and the guest is asked (update_rx_prod) to say when it posts more;
 * its kick drains the backlog in order. Only a frame that finds the backlog full is dropped and
 * counted. Without the backlog a TCP sender's burst of a few TSO frames (a hundred segments)
 * overflows a 128-buffer ring every round trip, and each overflow is a loss TCP must recover from. Completions written in one turn are announced with one event, and tx
 * completions alone with none while the guest masks them (announce()).
 */
import {
  VMXNET_F_LRO,
  VMXNET_F_RXCSUM,
  VMXNET_INTR_TX,
  VMXNET_RX_BUF_SIZE,
  VMXNET_F_TSO,
  VMXNET_F_TXCSUM,
  VMXNET_MAX_FRAME,
  VMXNET_MAX_TX_DESC_PER_PKT,
  VMXNET_OM_CSUM,
  VMXNET_OM_NONE,
  VMXNET_OM_TSO,
  VMXNET_RXC_CNC,
  VMXNET_RXC_FRG,
  VMXNET_RXC_IPC,
  VMXNET_RXC_TCP,
  VMXNET_RXC_TUC,
  VMXNET_RXC_UDP,
  VMXNET_RXC_V4,
  VMXNET_RXC_V6,
  VMXNET_RXC_EOP,
  VMXNET_RXC_ERR,
  VMXNET_RXC_SOP,
  VMXNET_TXC_ERROR,
  VMXNET_TXC_OK,
  VMXNET_TXD_CQ,
  VMXNET_TXD_EOP,
  VMXNET_TXD_OM_MASK,
  VMXNET_TXD_OM_SHIFT,
  VmxnetQueueCtrl,
  VmxnetRxCompDesc,
  VmxnetRxDesc,
  VmxnetTxCompDesc,
  VmxnetTxDesc,
} from "@pvkit/abi/layout";
import type { PersistentGrants } from "../blk/back-grants.ts";
import { GenConsumer, GenProducer } from "./gen-ring.ts";
import { checkTso, completeChecksum, finishWholeTso, rxChecksumFlags } from "./offload.ts";
import type { Gso, PortCounters } from "./port.ts";
import { ETH_HLEN, MIN_FRAME, PAGE_SIZE, type QueuePage, RING, RxDescFast } from "./protocol.ts";

export interface BackQueueDeps {
  pages: Record<QueuePage, DataView>;
  grants: PersistentGrants;
  /** Largest frame accepted and delivered: MTU + Ethernet header + a VLAN tag. */
  maxFrame: number;
  /** The VMXNET_F_* bits the guest acked: offloads it may ask for, checksums it wants reported. */
  features: number;
  counters: PortCounters;
  /** The counters moved (the device publishes them, coalesced). */
  countersChanged(): void;
  notify(): void;
  /** A checked frame the guest sent, in dom0's memory; `gso`: a TSO frame left whole (port.ts). */
  onFrame(frame: Uint8Array, gso?: Gso): void;
  log(line: string): void;
}

const CTRL_UPDATE_RX_PROD = VmxnetQueueCtrl.offsets.update_rx_prod / 4;
const CTRL_TX_THRESHOLD = VmxnetQueueCtrl.offsets.tx_threshold / 4;
const CTRL_INTR_MASK = VmxnetQueueCtrl.offsets.intr_mask / 4;
const LOGGED = 10;
/**
 * Bytes of frames a queue holds for a guest whose rx buffers are all taken: more than a TCP
 * receive window (1 MiB in pvkit's kernel) with its headers, so a sender that respects the window
 * never loses a frame here; and bounded, so a guest that never posts buffers costs dom0 no more.
 */
export const RX_BACKLOG_BYTES = 2 << 20;
const RXC = {
  V4: VMXNET_RXC_V4,
  V6: VMXNET_RXC_V6,
  IPC: VMXNET_RXC_IPC,
  TCP: VMXNET_RXC_TCP,
  UDP: VMXNET_RXC_UDP,
  TUC: VMXNET_RXC_TUC,
  FRG: VMXNET_RXC_FRG,
  CNC: VMXNET_RXC_CNC,
};

export class NetbackQueue {
  private readonly tx: GenConsumer<VmxnetTxDesc>;
  private readonly txComp: GenProducer<VmxnetTxCompDesc>;
  private readonly rx: [GenConsumer<VmxnetRxDesc>, GenConsumer<VmxnetRxDesc>];
  private readonly rxComp: GenProducer<VmxnetRxCompDesc>;
  private readonly ctrl: Int32Array;
  private notifyQueued = false;
  private rxPending = false;
  private stopped = false;
  private logged = 0;
  /** Frames waiting for the guest to post rx buffers, and their bytes. */
  private backlog: { frame: Uint8Array; whole: boolean }[] = [];
  private backlogBytes = 0;
  /**
   * Where each frame the guest sends is copied, over and over: the switch and its ports use a frame
   * only during the call that hands it over (port.ts), so no frame needs an array of its own. An
   * array per frame was a 64 KiB allocation per TSO frame, and V8 answers that many bytes outside
   * its heap with a full collection every few dozen megabytes.
   */
  private readonly txFrame: Uint8Array;

  constructor(private readonly d: BackQueueDeps) {
    const p = d.pages;
    this.tx = new GenConsumer(p["tx-ring"], RING.tx, VmxnetTxDesc);
    this.txComp = new GenProducer(p["tx-comp-ring"], RING.txComp, VmxnetTxCompDesc);
    this.rx = [
      new GenConsumer(p["rx-ring0"], RING.rx, RxDescFast),
      new GenConsumer(p["rx-ring1"], RING.rx, RxDescFast),
    ];
    this.rxComp = new GenProducer(p["rx-comp-ring"], RING.rxComp, VmxnetRxCompDesc);
    this.ctrl = new Int32Array(p.ctrl.buffer, p.ctrl.byteOffset, VmxnetQueueCtrl.size / 4);
    this.txFrame = new Uint8Array(Math.max(VMXNET_MAX_FRAME, d.maxFrame));
    Atomics.store(this.ctrl, CTRL_TX_THRESHOLD, 1);
  }

  stop(): void {
    this.stopped = true;
    this.backlog = [];
    this.backlogBytes = 0;
  }

  /**
   * Frames that waited go in, oldest first, while buffers last. When some are left the guest is
   * asked again (update_rx_prod: it cleared the flag before the kick that brought us here) and the
   * ring is looked at once more, since it may have posted buffers before it saw the flag — Xen's
   * final check for requests, which closes the same race.
   */
  private drainBacklog(finalCheck = true): void {
    let n = 0;
    while (n < this.backlog.length) {
      const { frame, whole } = this.backlog[n]!;
      const r = this.deliver(frame, whole);
      if (r === "no-room") break;
      this.backlogBytes -= frame.length;
      n++;
    }
    if (n > 0) this.backlog.splice(0, n);
    if (this.backlog.length === 0) return;
    Atomics.store(this.ctrl, CTRL_UPDATE_RX_PROD, 1); // tell us when you post buffers
    if (finalCheck) this.drainBacklog(false);
  }

  /** The guest kicked the queue: send everything it queued (at most one ring's worth per kick). */
  kick(): void {
    if (this.stopped) return;
    this.drainBacklog();
    let budget = RING.tx;
    while (budget > 0 && this.tx.ready()) {
      budget -= this.oneFrame();
    }
    if (budget < RING.tx) this.d.countersChanged();
    // More queued: come back after the event loop has served everyone else (a macrotask; a
    // microtask would run before any I/O, so a guest that never stops sending would own dom0).
    if (budget <= 0 && this.tx.ready()) setImmediate(() => this.kick());
  }

  /** Takes one frame's descriptors; returns how many it took. */
  private oneFrame(): number {
    const frags: { bytes: Uint8Array; gref: number }[] = [];
    let taken = 0;
    let why: string | undefined;
    let eop: { index: number; flags: number } | undefined;
    let sop: VmxnetTxDesc | undefined;
    let last = -1;
    while (taken < VMXNET_MAX_TX_DESC_PER_PKT) {
      const t = this.tx.take();
      if (!t) break; // the frame's rest is not there (yet): what we have is dropped as torn
      taken++;
      last = t.index;
      const { desc } = t;
      sop ??= desc;
      if (desc.len === 0 || desc.offset + desc.len > PAGE_SIZE)
        why ??= `fragment ${desc.offset}+${desc.len} leaves its page`;
      else {
        const page = this.d.grants.acquire(desc.gref);
        if (!page) why ??= `grant ${desc.gref} does not map`;
        else frags.push({ bytes: page.subarray(desc.offset, desc.offset + desc.len), gref: desc.gref });
      }
      if (desc.flags & VMXNET_TXD_EOP) {
        eop = { index: t.index, flags: desc.flags };
        break;
      }
    }
    if (!eop) {
      why ??= `no end of frame within ${VMXNET_MAX_TX_DESC_PER_PKT} descriptors`;
      // Too long or torn: the rest of it, up to its end if there is one, goes with it as one drop.
      for (let t = this.tx.take(); t; t = taken < RING.tx ? this.tx.take() : undefined) {
        taken++;
        last = t.index;
        if (t.desc.flags & VMXNET_TXD_EOP) {
          eop = { index: t.index, flags: t.desc.flags };
          break;
        }
      }
    }
    const om = sop ? (sop.flags >> VMXNET_TXD_OM_SHIFT) & VMXNET_TXD_OM_MASK : VMXNET_OM_NONE;
    why ??= this.offloadRefused(om);
    const total = frags.reduce((n, f) => n + f.bytes.length, 0);
    const max = om === VMXNET_OM_TSO ? VMXNET_MAX_FRAME : this.d.maxFrame;
    if (!why && (total < MIN_FRAME || total > max)) why = `a ${total}-byte frame (${MIN_FRAME}..${max})`;
    let frame: Uint8Array | undefined;
    if (!why) {
      frame = this.txFrame.subarray(0, total);
      let at = 0;
      for (const f of frags) {
        frame.set(f.bytes, at);
        at += f.bytes.length;
      }
    }
    for (const f of frags) this.d.grants.release(f.gref);
    // Offloads work on dom0's copy, after the guest's pages are out of the picture.
    let out: Uint8Array[] | undefined;
    let gso: Gso | undefined;
    if (frame && sop && om === VMXNET_OM_TSO) {
      // Checked here, cut by the switch only for the ports that need segments (port.ts, Gso).
      const l = checkTso(frame, sop.hdr_len, sop.msscof, this.d.maxFrame);
      if (typeof l === "string") why = l;
      else {
        out = [frame];
        gso = { mss: sop.msscof, hdrLen: sop.hdr_len };
      }
    } else if (frame && sop) {
      const done = this.offload(frame, om, sop);
      if (typeof done === "string") why = done;
      else out = done;
    }
    if (eop && eop.flags & VMXNET_TXD_CQ) {
      this.txComp.put({ txd_idx: eop.index, status: why ? VMXNET_TXC_ERROR : VMXNET_TXC_OK, flags: 0 });
      this.announce(false);
    } else if (!eop && last >= 0) {
      // No end at all: an error completion for the last slot taken, so the guest gets its pages back.
      this.txComp.put({ txd_idx: last, status: VMXNET_TXC_ERROR, flags: 0 });
      this.announce(false);
    }
    if (why || !frame || !out) {
      this.d.counters.txErrors++;
      if (this.logged++ < LOGGED) this.d.log(`tx frame dropped: ${why}`);
      return Math.max(taken, 1);
    }
    this.d.counters.txFrames++;
    this.d.counters.txBytes += frame.length;
    for (const f of out) this.d.onFrame(f, gso);
    return taken;
  }

  /** Why offload mode `om` cannot be served (not a mode, or a feature the guest did not ack). */
  private offloadRefused(om: number): string | undefined {
    if (om === VMXNET_OM_NONE) return undefined;
    if (om === VMXNET_OM_CSUM)
      return this.d.features & VMXNET_F_TXCSUM ? undefined : "checksum offload not acked";
    if (om === VMXNET_OM_TSO) return this.d.features & VMXNET_F_TSO ? undefined : "TSO not acked";
    return `offload mode ${om} is not one`;
  }

  /** The frame the switch gets: itself, its checksum completed when asked. */
  private offload(frame: Uint8Array, om: number, sop: VmxnetTxDesc): Uint8Array[] | string {
    if (om === VMXNET_OM_CSUM) return completeChecksum(frame, sop.hdr_len, sop.msscof) ?? [frame];
    return [frame];
  }

  /**
   * The switch hands the guest a frame: into its buffers now, or into the backlog behind the
   * frames already waiting (order is kept). False when it was dropped.
   */
  send(frame: Uint8Array, gso?: Gso): boolean {
    const max = gso && this.d.features & VMXNET_F_LRO ? VMXNET_MAX_FRAME : this.d.maxFrame;
    if (this.stopped || frame.length < ETH_HLEN || frame.length > max) return this.drop();
    // A whole TSO frame (large receive) becomes a packet of its own first: lengths and checksums.
    if (gso && finishWholeTso(frame, gso.hdrLen) !== undefined) return this.drop();
    const whole = gso !== undefined;
    if (this.backlog.length === 0) {
      const r = this.deliver(frame, whole);
      if (r !== "no-room") return r === "delivered";
    }
    if (this.backlogBytes + frame.length > RX_BACKLOG_BYTES) return this.drop();
    // A copy: the switch may hand the same frame to other ports, and keeps no promise about it.
    this.backlog.push({ frame: frame.slice(), whole });
    this.backlogBytes += frame.length;
    // Ask for a kick when buffers come, and look once more: some may have come meanwhile.
    Atomics.store(this.ctrl, CTRL_UPDATE_RX_PROD, 1);
    this.drainBacklog(false);
    return true;
  }

  /** One frame into the guest's posted buffers (`whole`: a TSO frame finishWholeTso checksummed). */
  private deliver(frame: Uint8Array, whole: boolean): "delivered" | "no-room" | "dropped" {
    // Reserve: one head buffer, and body buffers for the rest at a page each at most. Room is
    // judged before anything is taken, for heads of the usual size (VMXNET_RX_BUF_SIZE): a big
    // frame (large receive) waits for body buffers rather than being dropped for want of them.
    if (!this.rx[0].readyCount(1)) return "no-room";
    const usualBodies = Math.ceil(Math.max(0, frame.length - VMXNET_RX_BUF_SIZE) / PAGE_SIZE);
    if (usualBodies > 0 && !this.rx[1].readyCount(usualBodies)) return "no-room";
    const head = this.rx[0].take()!;
    const buffers: { ring: 0 | 1; index: number; desc: VmxnetRxDesc }[] = [{ ring: 0, ...head }];
    let room = Math.min(head.desc.len, PAGE_SIZE);
    if (room < frame.length) {
      const bodies = Math.ceil((frame.length - room) / PAGE_SIZE);
      if (!this.rx[1].readyCount(bodies)) {
        // Not enough body buffers: give the head back empty (an ERR completion) and drop.
        this.complete(0, head.index, 0, VMXNET_RXC_SOP | VMXNET_RXC_EOP | VMXNET_RXC_ERR);
        this.drop();
        return "dropped";
      }
      for (let i = 0; i < bodies; i++) buffers.push({ ring: 1, ...this.rx[1].take()! });
    }
    let at = 0;
    let bad = false;
    const csum = !(this.d.features & VMXNET_F_RXCSUM)
      ? VMXNET_RXC_CNC
      : whole
        ? VMXNET_RXC_V4 | VMXNET_RXC_TCP | VMXNET_RXC_IPC | VMXNET_RXC_TUC // summed just now
        : rxChecksumFlags(frame, RXC);
    buffers.forEach((b, i) => {
      const { gref, offset, len } = b.desc;
      const first = i === 0 ? VMXNET_RXC_SOP : 0;
      const last = i === buffers.length - 1 ? VMXNET_RXC_EOP | csum : 0;
      const page = !bad && offset + len <= PAGE_SIZE && len > 0 ? this.d.grants.acquire(gref) : undefined;
      if (!page) bad = true;
      const n = bad ? 0 : Math.min(len, frame.length - at);
      if (page) {
        page.set(frame.subarray(at, at + n), offset);
        this.d.grants.release(gref);
      }
      at += n;
      this.complete(b.ring, b.index, n, bad ? first | last | VMXNET_RXC_ERR : first | last);
    });
    if (bad || at < frame.length) {
      if (this.logged++ < LOGGED)
        this.d.log("rx frame dropped: the guest posted a buffer that does not map or fit");
      this.drop();
      return "dropped";
    }
    this.d.counters.rxFrames++;
    this.d.counters.rxBytes += frame.length;
    this.d.countersChanged();
    return "delivered";
  }

  private complete(ring: 0 | 1, index: number, len: number, flags: number): void {
    this.rxComp.put({ rxd_idx: index, ring_id: ring, rss_type: 0, rss_hash: 0, len, tci: 0, csum: 0, flags });
    this.announce(true);
  }

  private drop(): false {
    this.d.counters.rxDropped++;
    this.d.countersChanged();
    Atomics.store(this.ctrl, CTRL_UPDATE_RX_PROD, 1); // tell us when you post buffers
    return false;
  }

  /**
   * One event for every completion written in this turn — none when all of them are tx completions
   * and the guest masked those (VMXNET_INTR_TX in intr_mask: it reaps them when it next sends, and
   * unmasks when it runs out of room). Each event saved is a wake-up of the guest's vCPU.
   */
  private announce(rx: boolean): void {
    this.rxPending ||= rx;
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      const rxToo = this.rxPending;
      this.rxPending = false;
      if (this.stopped) return;
      if (rxToo || !(Atomics.load(this.ctrl, CTRL_INTR_MASK) & VMXNET_INTR_TX)) this.d.notify();
    });
  }
}
