/**
 * A vmxnet frontend with no manners, for the hostile netback test: it takes one of its domain's vifs
 * away from the kernel's netfront the way a restarted frontend would, then writes raw descriptors —
 * whatever the attack wants, generation bit included — and reads the backend's completions raw.
 *
 * Taking over: the kernel's netfront connected at boot, so the backend is Connected. We say Closing,
 * then Closed (the backend unplugs the port, unmaps the kernel's pages and says Closed too), then
 * Initialising (the backend offers the device again: InitWait). Then six pages of our own granted to
 * dom0 (control, tx, tx completion, rx rings 0 and 1, rx completion), an event channel, the
 * features we ack, Initialised; the backend maps them and says Connected.
 */
import {
  VMXNET_RXC_GEN,
  VMXNET_RXD_GEN,
  VMXNET_TXC_GEN,
  VMXNET_TXD_GEN,
  VmxnetRxCompDesc,
  VmxnetRxDesc,
  VmxnetTxCompDesc,
  VmxnetTxDesc,
} from "@pvkit/abi/layout";
import type { KernelHandle, SharedPage } from "@pvkit/guest-kernel/kernel/program";

const PAGES = ["ctrl", "tx-ring", "tx-comp-ring", "rx-ring0", "rx-ring1", "rx-comp-ring"] as const;
const KEY: Record<(typeof PAGES)[number], string> = {
  ctrl: "ctrl-ref",
  "tx-ring": "tx-ring-ref",
  "tx-comp-ring": "tx-comp-ring-ref",
  "rx-ring0": "rx-ring-ref0",
  "rx-ring1": "rx-ring-ref1",
  "rx-comp-ring": "rx-comp-ring-ref",
};
const TX_ENTRIES = 256;
const RX_ENTRIES = 128;
const COMP_ENTRIES = 256;

/** Resolves with the backend's state once `ok` holds for it. */
async function backendReaches(k: KernelHandle, be: string, ok: (s: number) => boolean): Promise<number> {
  let done: (s: number) => void = () => undefined;
  const reached = new Promise<number>((r) => (done = r));
  const unwatch = await k.xenstore.watch(`${be}/state`, () => {
    void k.xenstore.tryRead(`${be}/state`).then((v) => {
      if (v !== undefined && ok(Number(v))) done(Number(v));
    });
  });
  const s = await reached;
  await unwatch();
  return s;
}

/** A ring position: index and generation, flipped at each wrap (gen-ring.ts's rule). */
class Cursor {
  idx = 0;
  gen = 1;
  constructor(private readonly entries: number) {}
  step(): number {
    const i = this.idx;
    if (++this.idx === this.entries) {
      this.idx = 0;
      this.gen ^= 1;
    }
    return i;
  }
}

export interface RawTxDesc {
  gref: number;
  offset: number;
  len: number;
  hdr_len?: number;
  msscof?: number;
  /** EOP, CQ, OM bits (the generation bit is added). */
  flags: number;
}

export class RawVif {
  readonly pages = {} as Record<(typeof PAGES)[number], SharedPage>;
  private readonly tx = new Cursor(TX_ENTRIES);
  private readonly rx = [new Cursor(RX_ENTRIES), new Cursor(RX_ENTRIES)];
  private readonly txc = new Cursor(COMP_ENTRIES);
  private readonly rxc = new Cursor(COMP_ENTRIES);
  private wake: (() => void) | undefined;
  port = -1;

  private constructor(
    private readonly k: KernelHandle,
    readonly fe: string,
    readonly be: string,
  ) {}

  /** Takes vif `handle` from the kernel's netfront and connects our own pages, acking `features`. */
  static async takeOver(k: KernelHandle, handle: number, features: number): Promise<RawVif> {
    const fe = `device/vif/${handle}`;
    const be = await k.xenstore.read(`${fe}/backend`);
    await k.xenstore.write(`${fe}/state`, "5"); // Closing
    await k.xenstore.write(`${fe}/state`, "6"); // Closed
    await backendReaches(k, be, (s) => s === 6);
    await k.xenstore.write(`${fe}/state`, "1"); // Initialising: a frontend that starts over
    await backendReaches(k, be, (s) => s === 2);
    const v = new RawVif(k, fe, be);
    for (const p of PAGES) {
      v.pages[p] = k.grants.share(0);
      v.bytes(p).fill(0);
      await k.xenstore.write(`${fe}/queue-0/${KEY[p]}`, String(v.pages[p].ref));
    }
    v.port = k.events.allocUnbound(0, () => v.wake?.());
    await k.xenstore.write(`${fe}/queue-0/event-channel`, String(v.port));
    await k.xenstore.write(`${fe}/multi-queue-num-queues`, "1");
    await k.xenstore.write(`${fe}/features-ack`, String(features));
    await k.xenstore.write(`${fe}/state`, "3"); // Initialised
    await backendReaches(k, be, (s) => s === 4);
    await k.xenstore.write(`${fe}/state`, "4");
    return v;
  }

  bytes(p: (typeof PAGES)[number]): Uint8Array {
    const { view } = this.pages[p];
    return new Uint8Array(view.buffer, view.byteOffset, 4096);
  }

  /** Writes tx descriptors in order, publishing each as written (or all but the first: `sopLast`). */
  putTx(descs: RawTxDesc[], sopLast = true): number[] {
    const view = this.pages["tx-ring"].view;
    const first = { at: -1, flags: 0 };
    const slots: number[] = [];
    descs.forEach((d, i) => {
      const gen = this.tx.gen ? VMXNET_TXD_GEN : 0;
      const slot = this.tx.step();
      slots.push(slot);
      const at = slot * VmxnetTxDesc.size;
      const flags = (d.flags & ~VMXNET_TXD_GEN) | gen;
      // everything but the flags word, then the flags word: the generation bit hands it over
      VmxnetTxDesc.encode(view, at, { tci: 0, hdr_len: 0, msscof: 0, ...d, flags: flags ^ VMXNET_TXD_GEN });
      if (i === 0 && sopLast) Object.assign(first, { at, flags });
      else Atomics.store(this.words("tx-ring"), (at + VmxnetTxDesc.size - 2) / 2, flags);
    });
    if (first.at >= 0)
      Atomics.store(this.words("tx-ring"), (first.at + VmxnetTxDesc.size - 2) / 2, first.flags);
    return slots;
  }

  /** Posts rx buffers on ring `ring`. */
  postRx(ring: 0 | 1, bufs: { gref: number; offset: number; len: number; flags?: number }[]): number[] {
    const view = this.pages[ring === 0 ? "rx-ring0" : "rx-ring1"].view;
    return bufs.map((b) => {
      const gen = this.rx[ring]!.gen ? VMXNET_RXD_GEN : 0;
      const slot = this.rx[ring]!.step();
      const at = slot * VmxnetRxDesc.size;
      VmxnetRxDesc.encode(view, at, { ...b, rsvd: new Uint8Array(6), flags: 0 });
      const words = this.words(ring === 0 ? "rx-ring0" : "rx-ring1");
      Atomics.store(words, (at + VmxnetRxDesc.size - 2) / 2, ((b.flags ?? 0) & ~VMXNET_RXD_GEN) | gen);
      return slot;
    });
  }

  kick(): void {
    this.k.events.notify(this.port);
  }

  /** Tx completions the backend has written since the last call. */
  txCompletions(): { txd_idx: number; status: number }[] {
    const out: { txd_idx: number; status: number }[] = [];
    const view = this.pages["tx-comp-ring"].view;
    for (;;) {
      const at = this.txc.idx * VmxnetTxCompDesc.size;
      const flags = Atomics.load(this.words("tx-comp-ring"), (at + VmxnetTxCompDesc.size - 2) / 2);
      if (((flags & VMXNET_TXC_GEN) !== 0) !== (this.txc.gen === 1)) return out;
      const c = VmxnetTxCompDesc.decode(view, at);
      this.txc.step();
      out.push({ txd_idx: c.txd_idx, status: c.status });
    }
  }

  /** Rx completions the backend has written since the last call. */
  rxCompletions(): { rxd_idx: number; ring_id: number; len: number; flags: number }[] {
    const out: { rxd_idx: number; ring_id: number; len: number; flags: number }[] = [];
    const view = this.pages["rx-comp-ring"].view;
    for (;;) {
      const at = this.rxc.idx * VmxnetRxCompDesc.size;
      const flags = Atomics.load(this.words("rx-comp-ring"), (at + VmxnetRxCompDesc.size - 2) / 2);
      if (((flags & VMXNET_RXC_GEN) !== 0) !== (this.rxc.gen === 1)) return out;
      const c = VmxnetRxCompDesc.decode(view, at);
      this.rxc.step();
      out.push({ rxd_idx: c.rxd_idx, ring_id: c.ring_id, len: c.len, flags: c.flags & ~VMXNET_RXC_GEN });
    }
  }

  /** Waits for the backend's next event. */
  event(): Promise<void> {
    return new Promise((r) => (this.wake = r));
  }

  private words(p: (typeof PAGES)[number]): Uint16Array {
    const { view } = this.pages[p];
    return new Uint16Array(view.buffer, view.byteOffset, 2048);
  }
}

/** A page of ours lent to dom0 and its bytes. */
export function page(k: KernelHandle): { ref: number; bytes: Uint8Array } {
  const p = k.grants.share(0);
  return { ref: p.ref, bytes: new Uint8Array(p.view.buffer, p.view.byteOffset, 4096) };
}
