/**
 * blkfront's half of the xenbus handshake (xen/io/blkif.h's state diagram), for one virtual disk
 * whose directory the toolstack made at device/vbd/<vdev>:
 *
 *   wait for the backend's InitWait → read its features → allocate and grant the ring (2^order
 *   pages), open an event channel → publish ring-ref(s), event-channel, protocol, feature-persistent
 *   → Initialised → wait for the backend's Connected → read sectors, sector-size, info → Connected.
 *
 * close() runs it backwards: drain, Closing, wait for the backend's Closed (it has unmapped our
 * pages by then), end the grants, free the pages, Closed. A Blkfront can connect again afterwards,
 * which is how a restarted frontend finds its disk again.
 */
import {
  VDISK_READONLY,
  XenbusStateConnected,
  XenbusStateInitialised,
  XenbusStateInitialising,
  XenbusStateInitWait,
} from "@pvkit/abi/layout";
import { FrontRing } from "../ring.ts";
import { waitForState } from "../xenbus-wait.ts";
import { type FrontendPlatform, closeFrontend } from "../frontend-platform.ts";
import { BlkfrontQueue, type DiskInfo } from "./front.ts";
import { GrantPool } from "./front-pool.ts";
import { SharedBuffers } from "./front-shared.ts";
import {
  DIRECT_SEGMENTS,
  Keys,
  MAX_INDIRECT_SEGMENTS,
  PROTOCOL_X86_64,
  blkifRingLayout,
  readUint,
  vdevName,
} from "./protocol.ts";

/** What the driver needs of its kernel (frontend-platform.ts). */
export type BlkfrontPlatform = FrontendPlatform;

export interface BlkfrontOptions {
  /** Ring pages as a power of two (capped by the backend's max-ring-page-order). Default 0. */
  ringPageOrder?: number;
  /** Most pages the persistent grant pool may hold (data and indirect pages). Default 256. */
  poolPages?: number;
  /** Most pages shared buffers (buffer()) may hold, all connections together. Default poolPages. */
  sharedPages?: number;
  /** How long to wait for the backend at each step before giving up (ms). Default 30 000. */
  timeoutMs?: number;
}

interface Live {
  queue: BlkfrontQueue;
  pool: GrantPool;
  ringRefs: number[];
  ringPfns: number[];
  port: number;
}

/** How long closing after a failed handshake waits for the backend's Closed. */
const FAILED_CLOSE_MS = 1000;

export class Blkfront {
  private live: Live | undefined;
  private backend = "";
  private backendId = 0;
  /** Shared buffers outlive a connection: their grants stay, and a reconnect serves them again. */
  private shared: SharedBuffers | undefined;

  constructor(
    private readonly p: BlkfrontPlatform,
    /** Our directory: /local/domain/<us>/device/vbd/<vdev>. */
    readonly path: string,
  ) {}

  /** The disk, once connected. */
  get queue(): BlkfrontQueue {
    if (!this.live) throw new Error(`${this.path}: not connected`);
    return this.live.queue;
  }

  /** The backend's directory, once connect() has read it. */
  get backendDir(): string {
    return this.backend;
  }

  get info(): DiskInfo | undefined {
    return this.live?.queue.info;
  }

  /**
   * A buffer of `bytes` on pages granted to the backend (front-shared.ts): reads into it and writes
   * from it need no copy. Undefined when not connected, or no such memory is left.
   */
  buffer(bytes: number): Uint8Array | undefined {
    return this.live ? this.shared?.make(bytes) : undefined;
  }

  /** Gives back a buffer from buffer() for reuse; false when it is not one (front-shared.ts). */
  releaseBuffer(buf: Uint8Array): boolean {
    return this.shared?.release(buf) ?? false;
  }

  /** The handshake; a failed one gives back what it had set up (granted pages, the port). */
  async connect(opts: BlkfrontOptions = {}): Promise<DiskInfo> {
    try {
      return await this.handshake(opts);
    } catch (e) {
      await this.close(FAILED_CLOSE_MS).catch(() => undefined);
      throw e;
    }
  }

  private async handshake(opts: BlkfrontOptions): Promise<DiskInfo> {
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
    const vdev = readUint(await s.read(`${this.path}/${Keys.virtualDevice}`), 0xffffffff);
    const name = (vdev !== undefined && vdevName(vdev)) || this.path.split("/").pop()!;

    await this.waitBackend(
      (st) => st === XenbusStateInitWait || st === XenbusStateConnected,
      "InitWait",
      timeout,
    );
    const be = async (k: string) => s.read(`${this.backend}/${k}`);
    const maxOrder = readUint(await be(Keys.maxRingPageOrder), 4) ?? 0;
    const order = Math.min(opts.ringPageOrder ?? 0, maxOrder);
    const maxIndirect = Math.min(
      readUint(await be(Keys.maxIndirectSegments), 4096) ?? 0,
      MAX_INDIRECT_SEGMENTS,
    );
    const poolPages = opts.poolPages ?? 256;

    // The ring: 2^order zeroed pages of ours, each granted to the backend.
    const layout = blkifRingLayout(order);
    const ringPfns: number[] = [];
    const ringRefs: number[] = [];
    const views: DataView[] = [];
    for (let i = 0; i < 2 ** order; i++) {
      const { pfn, view } = this.p.allocPage();
      new Uint8Array(view.buffer, view.byteOffset, 4096).fill(0);
      ringPfns.push(pfn);
      views.push(view);
      ringRefs.push(this.p.grant(this.backendId, pfn, false));
    }
    const ring = new FrontRing(views, layout);
    ring.init();
    const pool = new GrantPool(this.p, this.backendId, poolPages);
    // A backend in another domain than before cannot use the old buffers' grants: new ones then.
    // The old ones stay granted to their backend for good, so they still count against the limit.
    if (this.shared?.backend !== this.backendId)
      this.shared = new SharedBuffers(
        this.p,
        this.backendId,
        Math.max(0, (opts.sharedPages ?? poolPages) - (this.shared?.pages ?? 0)),
      );
    // Segments per request: indirect when offered, bounded so one request's data pages are at most
    // a quarter of the pool (others must be able to run beside it).
    const indirectFit = Math.floor(poolPages / 4);
    const maxSegments =
      maxIndirect > DIRECT_SEGMENTS
        ? Math.max(DIRECT_SEGMENTS, Math.min(maxIndirect, indirectFit))
        : DIRECT_SEGMENTS;
    let queue: BlkfrontQueue | undefined;
    const port = this.p.allocUnbound(this.backendId, () => queue?.onEvent());
    // From here a failure gives these back (connect() closes).
    this.live = { queue: undefined as unknown as BlkfrontQueue, pool, ringRefs, ringPfns, port };

    const w = async (k: string, v: string) => s.write(`${this.path}/${k}`, v);
    if (order === 0) await w(Keys.ringRef, String(ringRefs[0]));
    else {
      for (const [i, ref] of ringRefs.entries()) await w(`${Keys.ringRef}${i}`, String(ref));
      await w(Keys.ringPageOrder, String(order));
      await w(Keys.numRingPages, String(2 ** order));
    }
    await w(Keys.eventChannel, String(port));
    await w(Keys.protocol, PROTOCOL_X86_64);
    await w(Keys.featurePersistent, "1");
    await w(Keys.state, String(XenbusStateInitialised));

    await this.waitBackend((st) => st === XenbusStateConnected, "Connected", timeout);
    const sectors = readUint(await be(Keys.sectors));
    const sectorSize = readUint(await be(Keys.sectorSize), 1 << 16) ?? 512;
    const info = readUint(await be(Keys.info), 0xffffffff) ?? 0;
    if (sectors === undefined) throw new Error(`${this.backend}: sectors is not a number`);
    queue = new BlkfrontQueue(
      ring,
      pool,
      {
        name,
        sectors,
        sectorSize,
        readonly: (info & VDISK_READONLY) !== 0,
        flushes: (await be(Keys.featureFlush)) === "1",
        discards: (await be(Keys.featureDiscard)) === "1",
        maxSegments,
      },
      () => this.p.notify(port),
      this.shared,
    );
    this.live.queue = queue;
    await w(Keys.state, String(XenbusStateConnected));
    queue.onEvent(); // anything answered before we were listening
    return queue.info;
  }

  /** Disconnects cleanly: waits for requests in flight (bounded), then the Closing/Closed dance. */
  async close(timeoutMs = 5_000): Promise<void> {
    const live = this.live;
    if (!live) return;
    this.live = undefined;
    // Undefined when the handshake failed before the ring was up.
    (live.queue as BlkfrontQueue | undefined)?.fail("device closed");
    await closeFrontend(
      this.p,
      this.path,
      this.backend,
      {
        ports: [live.port],
        pages: live.ringPfns.map((pfn, i) => ({ pfn, ref: live.ringRefs[i]! })),
        pool: live.pool,
      },
      timeoutMs,
    );
  }

  private waitBackend(ok: (state: number) => boolean, what: string, timeoutMs: number): Promise<void> {
    return waitForState(this.p.store, this.backend, ok, what, timeoutMs);
  }
}
