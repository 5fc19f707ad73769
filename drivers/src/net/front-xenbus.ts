/**
 * netfront's half of the vmxnet handshake (docs/abi.md, "The vmxnet device") for one vif whose
 * directory the toolstack made at device/vif/<handle>: wait for the backend's InitWait, read its
 * mac/mtu/features/queues, then per queue grant six zeroed pages (control, tx, tx completion, rx
 * rings 0 and 1, rx completion) and open an event channel, publish them under queue-N/, go to
 * Initialised, wait for Connected, post receive buffers, go to Connected. close() runs it backwards.
 */
import {
  VMXNET_MAX_QUEUES,
  XenbusStateClosed,
  XenbusStateClosing,
  XenbusStateConnected,
  XenbusStateInitialised,
  XenbusStateInitWait,
} from "@pvkit/abi/layout";
import { GrantPool, type PoolPlatform } from "../blk/front-pool.ts";
import type { DriverStore } from "../blk/protocol.ts";
import { waitForState } from "../xenbus-wait.ts";
import { NetfrontQueue } from "./front-queue.ts";
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

export interface NetfrontPlatform extends PoolPlatform {
  store: DriverStore;
  allocUnbound(remoteDom: number, onEvent: () => void): number;
  notify(port: number): void;
  closePort(port: number): void;
  log(line: string): void;
}

export interface NetInfo {
  /** eth0, eth1, ... by handle. */
  name: string;
  mac: string;
  mtu: number;
  queues: number;
}

interface Live {
  queues: NetfrontQueue[];
  pool: GrantPool;
  refs: number[];
  pfns: number[];
  ports: number[];
}

export class Netfront {
  private live: Live | undefined;
  private backend = "";
  private backendId = 0;
  private receiver: (frame: Uint8Array) => void = () => {};
  private next = 0;
  info: NetInfo | undefined;

  constructor(
    private readonly p: NetfrontPlatform,
    /** Our directory: /local/domain/<us>/device/vif/<handle>. */
    readonly path: string,
  ) {}

  /** Frames for us go to `fn` (one receiver; setting another replaces it). */
  onFrame(fn: (frame: Uint8Array) => void): void {
    this.receiver = fn;
  }

  get stats() {
    const sum = { txFrames: 0, txBytes: 0, txErrors: 0, rxFrames: 0, rxBytes: 0, rxErrors: 0, notifies: 0 };
    for (const q of this.live?.queues ?? [])
      for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += q.stats[k];
    return sum;
  }

  /** Sends one Ethernet frame (no FCS); queues round-robin. Resolves once it is on a ring. */
  send(frame: Uint8Array): Promise<void> {
    const live = this.live;
    if (!live) return Promise.reject(new Error(`${this.info?.name ?? this.path}: not connected`));
    const q = live.queues[this.next++ % live.queues.length]!;
    return q.send(frame);
  }

  async connect(opts: { queues?: number; timeoutMs?: number } = {}): Promise<NetInfo> {
    const s = this.p.store;
    const timeout = opts.timeoutMs ?? 30_000;
    this.backend = (await s.read(`${this.path}/${Keys.backend}`)) ?? "";
    const backendId = readUint(await s.read(`${this.path}/${Keys.backendId}`), 0x7fef);
    if (!this.backend || backendId === undefined) throw new Error(`${this.path}: no backend named`);
    this.backendId = backendId;
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
    const bodies = mtu + ETH_HLEN + 4 > PAGE_SIZE / 2;
    // Per queue: 64 pages of head buffers, 128 of body buffers when the MTU needs them, 64 for tx.
    const pool = new GrantPool(this.p, backendId, n * (RING.rx / 2 + (bodies ? RING.rx : 0) + 64));
    const live: Live = { queues: [], pool, refs: [], pfns: [], ports: [] };
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
        (f) => this.receiver(f),
      );
      live.queues.push(q);
      await w(`queue-${i}/${Keys.eventChannel}`, String(port));
    }
    await w(Keys.featuresAck, "0");
    await w(Keys.numQueues, String(n));
    await w(Keys.state, String(XenbusStateInitialised));
    await waitForState(s, this.backend, (st) => st === XenbusStateConnected, "Connected", timeout);
    for (const q of live.queues) q.start();
    await w(Keys.state, String(XenbusStateConnected));
    this.info = { name: `eth${handle}`, mac: formatMac(mac), mtu, queues: n };
    return this.info;
  }

  async close(timeoutMs = 5_000): Promise<void> {
    const live = this.live;
    if (!live) return;
    this.live = undefined;
    for (const q of live.queues) q.close();
    const s = this.p.store;
    await s.write(`${this.path}/${Keys.state}`, String(XenbusStateClosing));
    try {
      await waitForState(
        s,
        this.backend,
        (st) => st === XenbusStateClosing || st === XenbusStateClosed,
        "Closing",
        timeoutMs,
      );
    } catch (e) {
      this.p.log(`${this.path}: ${e instanceof Error ? e.message : String(e)}`);
    }
    await s.write(`${this.path}/${Keys.state}`, String(XenbusStateClosed));
    for (const port of live.ports) this.p.closePort(port);
    let kept = live.pool.destroy();
    live.refs.forEach((ref, i) => {
      if (this.p.endGrant(ref)) this.p.freePage(live.pfns[i]!);
      else kept++;
    });
    if (kept > 0) this.p.log(`${this.path}: ${kept} page(s) still mapped by the backend, left granted`);
  }
}
