/**
 * netfront's half of the vmxnet handshake (docs/abi.md, "The vmxnet device") for one vif whose
 * directory the toolstack made at device/vif/<handle>: wait for the backend's InitWait, read its
 * mac/mtu/features/queues, then per queue grant six zeroed pages (control, tx, tx completion, rx
 * rings 0 and 1, rx completion) and open an event channel, publish them under queue-N/, go to
 * Initialised, wait for Connected, post receive buffers, go to Connected. close() runs it backwards.
 */
import {
  VMXNET_F_MULTIQUEUE,
  VMXNET_F_RXCSUM,
  VMXNET_F_LRO,
  VMXNET_F_TSO,
  VMXNET_F_TXCSUM,
  VMXNET_MAX_QUEUES,
  XenbusStateConnected,
  XenbusStateInitialised,
  XenbusStateInitialising,
  XenbusStateInitWait,
} from "@pvkit/abi/layout";
import { GrantPool } from "../blk/front-pool.ts";
import { waitForState } from "../xenbus-wait.ts";
import { type FrontendPlatform, closeFrontend } from "../frontend-platform.ts";
import { queueOf } from "./flow.ts";
import { type FrontStats, NetfrontQueue, type TxOffload } from "./front-queue.ts";
import {
  DEFAULT_MTU,
  ETH_HLEN,
  Keys,
  PAGE_SIZE,
  QUEUE_PAGES,
  type QueuePage,
  RING,
  formatMac,
  pageKey,
  parseMac,
  readUint,
} from "./protocol.ts";

/** What the driver needs of its kernel (frontend-platform.ts). */
export type NetfrontPlatform = FrontendPlatform;

export interface NetInfo {
  /** eth0, eth1, ... by handle. */
  name: string;
  mac: string;
  mtu: number;
  queues: number;
  /** The VMXNET_F_* bits in use (offered by the backend and acked by us). */
  features: number;
}

interface Live {
  queues: NetfrontQueue[];
  /** The VMXNET_F_* bits we acked. */
  features: number;
  pool: GrantPool;
  refs: number[];
  pfns: number[];
  ports: number[];
}

/** How long closing after a failed handshake waits for the backend's Closed. */
const FAILED_CLOSE_MS = 1000;

export interface NetfrontOptions {
  queues?: number;
  rxcsum?: boolean;
  lro?: boolean;
  timeoutMs?: number;
}

export class Netfront {
  private live: Live | undefined;
  private backend = "";
  private backendId = 0;
  private receiver: (frame: Uint8Array, flags: number) => void = () => {};
  info: NetInfo | undefined;

  constructor(
    private readonly p: NetfrontPlatform,
    /** Our directory: /local/domain/<us>/device/vif/<handle>. */
    readonly path: string,
  ) {}

  /**
   * Frames for us go to `fn` (one receiver; setting another replaces it), with the flags of the
   * frame's last rx completion (VMXNET_RXC_*: checksum results when `rxcsum` was asked for).
   */
  onFrame(fn: (frame: Uint8Array, flags: number) => void): void {
    this.receiver = fn;
  }

  /** The backend's directory, once connect() has read it. */
  get backendDir(): string {
    return this.backend;
  }

  /** Queue `i` itself (tests: frames on one queue, offload fields unchecked by send()). */
  queue(i: number): NetfrontQueue | undefined {
    return this.live?.queues[i];
  }

  /** Each queue's counters, to see frames spread over the queues. */
  queueStats(): FrontStats[] {
    return (this.live?.queues ?? []).map((q) => ({ ...q.stats }));
  }

  get stats() {
    const sum = { txFrames: 0, txBytes: 0, txErrors: 0, rxFrames: 0, rxBytes: 0, rxErrors: 0, notifies: 0 };
    for (const q of this.live?.queues ?? [])
      for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += q.stats[k];
    return sum;
  }

  /**
   * Sends one Ethernet frame (no FCS), with an offload the backend is to finish (front-queue.ts's
   * TxOffload). The queue is chosen by the frame's flow (flow.ts), so one flow's frames stay in
   * order. Resolves once it is on a ring.
   */
  send(frame: Uint8Array, offload?: TxOffload): Promise<void> {
    const live = this.live;
    if (!live) return Promise.reject(new Error(`${this.info?.name ?? this.path}: not connected`));
    if (offload) {
      const why = offloadProblem(frame, offload, live.features);
      if (why) return Promise.reject(new RangeError(`${this.info?.name ?? this.path}: ${why}`));
    }
    return live.queues[queueOf(frame, live.queues.length)]!.send(frame, offload);
  }

  /**
   * The handshake. `queues`: how many queue pairs to ask for (at most what the backend offers);
   * `rxcsum`: have the backend check received frames' checksums (VMXNET_F_RXCSUM). `lro`: take
   * TCP frames of up to 64 KiB whole when a peer sent them with TSO (VMXNET_F_LRO), in body
   * buffers posted for them.
   */
  async connect(opts: NetfrontOptions = {}): Promise<NetInfo> {
    try {
      return await this.handshake(opts);
    } catch (e) {
      // A failed handshake gives back what it had set up (granted pages, ports).
      await this.close(FAILED_CLOSE_MS).catch(() => undefined);
      throw e;
    }
  }

  private async handshake(opts: NetfrontOptions): Promise<NetInfo> {
    const s = this.p.store;
    const timeout = opts.timeoutMs ?? 30_000;
    this.backend = (await s.read(`${this.path}/${Keys.backend}`)) ?? "";
    const backendId = readUint(await s.read(`${this.path}/${Keys.backendId}`), 0x7fef);
    if (!this.backend || backendId === undefined) throw new Error(`${this.path}: no backend named`);
    this.backendId = backendId;
    // Initialising, as a frontend starting over says: a backend Closed by an earlier frontend on
    // this directory (a detached device's, closing as this one was made) offers it again.
    if ((await s.read(`${this.path}/${Keys.state}`)) !== String(XenbusStateInitialising))
      await s.write(`${this.path}/${Keys.state}`, String(XenbusStateInitialising));
    const handle =
      readUint(await s.read(`${this.path}/${Keys.handle}`), 255) ?? Number(this.path.split("/").pop());
    await waitForState(
      s,
      this.backend,
      (st) => st === XenbusStateInitWait || st === XenbusStateConnected,
      "InitWait",
      timeout,
    );
    const be = (k: string) => s.read(`${this.backend}/${k}`);
    const mac = parseMac(await s.read(`${this.path}/${Keys.mac}`)) ?? parseMac(await be(Keys.mac));
    if (!mac) throw new Error(`${this.path}: no mac`);
    const mtu = readUint(await be(Keys.mtu), 65535) ?? DEFAULT_MTU;
    const maxQueues = Math.min(readUint(await be(Keys.maxQueues), VMXNET_MAX_QUEUES) ?? 1, VMXNET_MAX_QUEUES);
    const n = Math.max(1, Math.min(opts.queues ?? 1, maxQueues));
    const offered = readUint(await be(Keys.features), 0xffffffff) ?? 0;
    const wanted =
      VMXNET_F_TXCSUM |
      VMXNET_F_TSO |
      (opts.rxcsum ? VMXNET_F_RXCSUM : 0) |
      (opts.lro ? VMXNET_F_LRO : 0) |
      (n > 1 ? VMXNET_F_MULTIQUEUE : 0);
    const features = offered & wanted;
    // Body buffers: a page for each slot when the MTU needs them; for large receive alone, half
    // the slots (four 64 KiB frames at a time; more wait in netback's backlog).
    const bodies = mtu + ETH_HLEN + 4 > PAGE_SIZE / 2 ? RING.rx : features & VMXNET_F_LRO ? RING.rx / 2 : 0;
    // Per queue: 64 pages of head buffers, the body buffers, 64 for tx.
    const pool = new GrantPool(this.p, backendId, n * (RING.rx / 2 + bodies + 64));
    const live: Live = { queues: [], features, pool, refs: [], pfns: [], ports: [] };
    this.live = live;
    const w = (k: string, v: string) => s.write(`${this.path}/${k}`, v);
    for (let i = 0; i < n; i++) {
      const views = {} as Record<QueuePage, DataView>;
      for (const page of QUEUE_PAGES) {
        const { pfn, view } = this.p.allocPage();
        new Uint8Array(view.buffer, view.byteOffset, PAGE_SIZE).fill(0);
        const ref = this.p.grant(backendId, pfn, false);
        live.pfns.push(pfn);
        live.refs.push(ref);
        views[page] = view;
        await w(`queue-${i}/${pageKey(page)}`, String(ref));
      }
      let q: NetfrontQueue | undefined;
      const port = this.p.allocUnbound(backendId, () => q?.onEvent());
      live.ports.push(port);
      q = new NetfrontQueue(
        views,
        pool,
        bodies,
        () => this.p.notify(port),
        (f, flags) => this.receiver(f, flags),
      );
      live.queues.push(q);
      await w(`queue-${i}/${Keys.eventChannel}`, String(port));
    }
    await w(Keys.featuresAck, String(features));
    await w(Keys.numQueues, String(n));
    await w(Keys.state, String(XenbusStateInitialised));
    await waitForState(s, this.backend, (st) => st === XenbusStateConnected, "Connected", timeout);
    for (const q of live.queues) q.start();
    await w(Keys.state, String(XenbusStateConnected));
    this.info = { name: `eth${handle}`, mac: formatMac(mac), mtu, queues: n, features };
    return this.info;
  }

  async close(timeoutMs = 5_000): Promise<void> {
    const live = this.live;
    if (!live) return;
    this.live = undefined;
    for (const q of live.queues) q.close();
    await closeFrontend(
      this.p,
      this.path,
      this.backend,
      { ports: live.ports, pages: live.pfns.map((pfn, i) => ({ pfn, ref: live.refs[i]! })), pool: live.pool },
      timeoutMs,
    );
  }
}

/** Why the backend could not do `o` for `frame`: a feature not in use, or fields outside the frame. */
function offloadProblem(frame: Uint8Array, o: TxOffload, features: number): string | undefined {
  if ("csum" in o) {
    const { start, offset } = o.csum;
    if (!(features & VMXNET_F_TXCSUM)) return "the backend does not offer checksum offload";
    if (!Number.isInteger(start) || !Number.isInteger(offset) || start < ETH_HLEN || offset < 0)
      return `checksum start ${start}, offset ${offset}`;
    if (start + offset + 2 > frame.length) return `checksum field at ${start}+${offset} past the frame`;
    return undefined;
  }
  const { mss, hdrLen } = o.tso;
  if (!(features & VMXNET_F_TSO)) return "the backend does not offer TSO";
  if (!Number.isInteger(mss) || mss < 1 || mss > 0xffff) return `an MSS of ${mss}`;
  if (!Number.isInteger(hdrLen) || hdrLen < ETH_HLEN || hdrLen > frame.length) return `hdrLen ${hdrLen}`;
  return undefined;
}
