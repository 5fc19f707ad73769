/**
 * blkback for one virtual disk: the backend half of the xenbus handshake (xen/io/blkif.h's state
 * diagram) around the data path in back-ring.ts.
 *
 *   Initialising: open the image named by `params` with `mode`, publish our features
 *   → InitWait: the frontend reads them, sets up its ring, publishes ring-ref(s) and event-channel
 *   → (frontend Initialised) map the ring, bind the event channel, publish sectors/info/sector-size
 *   → Connected ... (frontend Closing) stop, unmap → Closing → (frontend Closed) → Closed
 *   → (frontend Initialising again: it restarted) → InitWait, and the dance starts over.
 *
 * State changes are handled one at a time, in order. Whatever the frontend publishes is checked
 * before use; a failure is reported as Xen's xenbus_dev_fatal does (an `error` node under dom0's
 * error/ tree, and state Closing), and never affects another device.
 */
import { VDISK_READONLY, XenbusStateConnected } from "@pvkit/abi/layout";
import { BackRing } from "../ring.ts";
import { XenbusBackend } from "../xenbus-backend.ts";
import { type MappedPage, PersistentGrants } from "./back-grants.ts";
import type { DiskLimits } from "./back-request.ts";
import { BlkbackRing } from "./back-ring.ts";
import {
  type DriverStore,
  Keys,
  MAX_INDIRECT_SEGMENTS,
  MAX_RING_PAGE_ORDER,
  PROTOCOL_X86_64,
  SECTOR_BYTES,
  blkifRingLayout,
  readUint,
} from "./protocol.ts";
import type { BlockStore } from "./store.ts";

/** What blkback needs from dom0: its xenstore, grant mapping, event channels, host files, a log. */
export interface BlkbackPlatform {
  store: DriverStore;
  /** Maps `domid`'s grant `ref` read-write; throws when it is not a grant to dom0. */
  mapGrant(domid: number, ref: number): MappedPage;
  /** Maps many of `domid`'s refs at once; undefined for each that is not a grant to dom0. Optional. */
  mapGrants?(domid: number, refs: readonly number[]): (MappedPage | undefined)[];
  bindInterdomain(domid: number, remotePort: number, onEvent: () => void): number;
  notify(port: number): void;
  closePort(port: number): void;
  /** Opens the image `params` names; throws an Error whose message says what is wrong. */
  openStore(params: string, readonly: boolean): Promise<BlockStore>;
  log(line: string): void;
}

interface Connection {
  ring: BlkbackRing;
  grants: PersistentGrants;
  ringPages: MappedPage[];
  port: number;
}

export class BlkbackDevice extends XenbusBackend {
  private blockStore: BlockStore | undefined;
  private conn: Connection | undefined;

  constructor(
    private readonly p: BlkbackPlatform,
    /** Our directory: /local/domain/0/backend/vbd/<domid>/<devid>. */
    path: string,
    domid: number,
    devid: number,
  ) {
    super(p, path, domid, devid);
  }

  get connected(): boolean {
    return this.conn !== undefined;
  }

  get stats() {
    return this.conn?.ring.stats;
  }

  /** Opens the image, publishes the features, enters InitWait and follows the frontend. */
  async start(): Promise<void> {
    const at = (k: string) => this.p.store.read(`${this.path}/${k}`);
    const params = await at(Keys.params);
    const mode = (await at(Keys.mode)) ?? "r";
    this.frontend = (await at(Keys.frontend)) ?? "";
    if (!params) return this.fatal(`no ${Keys.params} node names the image`);
    if (!this.frontend) return this.fatal(`no ${Keys.frontend} node`);
    try {
      this.blockStore = await this.p.openStore(params, mode !== "w");
    } catch (e) {
      return this.fatal(`${params}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const s = this.blockStore;
    const features: [string, string][] = [
      [Keys.featureFlush, "1"],
      [Keys.featureBarrier, "0"],
      [Keys.featureDiscard, s.discards && !s.readonly ? "1" : "0"],
      [Keys.discardGranularity, String(SECTOR_BYTES)],
      [Keys.discardAlignment, "0"],
      [Keys.discardSecure, "0"],
      [Keys.featurePersistent, "1"],
      [Keys.maxIndirectSegments, String(MAX_INDIRECT_SEGMENTS)],
      [Keys.maxRingPageOrder, String(MAX_RING_PAGE_ORDER)],
    ];
    for (const [k, v] of features) await this.p.store.write(`${this.path}/${k}`, v);
    await this.waitForFrontend();
  }

  /** The image outlives connections: closed when the device goes. */
  protected override async release(): Promise<void> {
    await this.blockStore?.close().catch(() => undefined);
    this.blockStore = undefined;
  }

  get name(): string {
    return `blkback ${this.domid}/${this.devid}`;
  }

  protected async connect(): Promise<void> {
    const store = this.blockStore!;
    const fe = (k: string) => this.p.store.read(`${this.frontend}/${k}`);
    const protocol = await fe(Keys.protocol);
    if (protocol !== undefined && protocol !== PROTOCOL_X86_64)
      return this.fatal(`frontend protocol "${protocol}" is not ${PROTOCOL_X86_64}`);
    const orderText = await fe(Keys.ringPageOrder);
    const order = orderText === undefined ? 0 : readUint(orderText, MAX_RING_PAGE_ORDER);
    if (order === undefined) return this.fatal(`ring-page-order "${orderText}" (0..${MAX_RING_PAGE_ORDER})`);
    const refs: number[] = [];
    for (let i = 0; i < 2 ** order; i++) {
      const text = (order === 0 ? await fe(Keys.ringRef) : undefined) ?? (await fe(`${Keys.ringRef}${i}`));
      const ref = readUint(text, 0xffffffff);
      if (ref === undefined)
        return this.fatal(`ring-ref${order === 0 ? "" : i} "${text ?? ""}" is not a grant ref`);
      refs.push(ref);
    }
    const remotePort = readUint(await fe(Keys.eventChannel), 0xffffffff);
    if (remotePort === undefined) return this.fatal("event-channel is not a port number");

    const ringPages: MappedPage[] = [];
    try {
      for (const ref of refs) ringPages.push(this.p.mapGrant(this.domid, ref));
    } catch (e) {
      for (const m of ringPages) m.unmap();
      return this.fatal(`mapping the ring: ${e instanceof Error ? e.message : String(e)}`);
    }
    const layout = blkifRingLayout(order);
    const views = ringPages.map((m) => new DataView(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
    const disk: DiskLimits = {
      sectors: Math.floor(store.bytes / SECTOR_BYTES),
      readonly: store.readonly,
      flush: true,
      discard: store.discards && !store.readonly,
      maxIndirectSegments: MAX_INDIRECT_SEGMENTS,
    };
    const mapGrants = this.p.mapGrants?.bind(this.p);
    const grants = new PersistentGrants((ref) => this.p.mapGrant(this.domid, ref), {
      mapBatch: mapGrants && ((refs) => mapGrants(this.domid, refs)),
    });
    let port = -1;
    const ring = new BlkbackRing({
      ring: new BackRing(views, layout),
      disk,
      store,
      grants,
      notify: () => this.p.notify(port),
      log: (line) => this.p.log(`${this.name}: ${line}`),
      onCorrupt: (why) =>
        void this.enqueue(async () => {
          this.p.log(`${this.name}: ${why}; disconnecting the frontend`);
          await this.disconnect();
          await this.fatal(why);
        }),
    });
    try {
      port = this.p.bindInterdomain(this.domid, remotePort, () => ring.kick());
    } catch (e) {
      for (const m of ringPages) m.unmap();
      return this.fatal(`binding event channel ${remotePort}: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.conn = { ring, grants, ringPages, port };
    const info: [string, string][] = [
      [Keys.sectors, String(disk.sectors)],
      [Keys.sectorSize, String(SECTOR_BYTES)],
      [Keys.physicalSectorSize, String(SECTOR_BYTES)],
      [Keys.info, String(store.readonly ? VDISK_READONLY : 0)],
    ];
    for (const [k, v] of info) await this.p.store.write(`${this.path}/${k}`, v);
    await this.setState(XenbusStateConnected);
    this.p.log(
      `${this.name}: connected, ${disk.sectors} sectors${store.readonly ? " read-only" : ""}, ` +
        `ring of ${layout.entries} on ${refs.length} page(s), event channel ${port}`,
    );
    ring.kick(); // requests queued before the bind announced nothing
  }

  protected async disconnect(): Promise<void> {
    const c = this.conn;
    if (!c) return;
    this.conn = undefined;
    this.p.closePort(c.port);
    await c.ring.stop();
    c.grants.clear();
    for (const m of c.ringPages) {
      try {
        m.unmap();
      } catch {
        // the frontend's domain is gone, and its mappings with it
      }
    }
  }
}
