/**
 * netback for one vif: the backend half of the vmxnet handshake (docs/abi.md, "The vmxnet device")
 * around one NetbackQueue per queue, and the port dom0's switch sees.
 *
 *   Initialising: publish features, multi-queue-max-queues, mac, mtu → InitWait
 *   → (frontend Initialised) map each queue's six pages, bind its event channel, plug the port into
 *     the bridge named by the toolstack → Connected
 *   → (frontend Closing/Closed) unplug, unmap → Closing/Closed → (frontend Initialising) InitWait.
 *
 * The frontend's numbers are checked before use; a failure closes this vif only, with an `error`
 * node where the toolstack looks (Xen's xenbus_dev_fatal). Frames for the guest spread over its
 * queues by flow (flow.ts). The port's counters are published under statistics/ (coalesced) for
 * `pvkit network-list`, the guest's ifconfig and tests.
 */
import {
  VMXNET_F_MULTIQUEUE,
  VMXNET_F_RXCSUM,
  VMXNET_F_TSO,
  VMXNET_F_LRO,
  VMXNET_F_TXCSUM,
  VMXNET_MAX_MTU,
  VMXNET_MAX_QUEUES,
  XenbusStateConnected,
} from "@pvkit/abi/layout";
import { type MappedPage, PersistentGrants } from "../blk/back-grants.ts";
import type { DriverStore } from "../blk/protocol.ts";
import { NetbackQueue } from "./back-queue.ts";
import { XenbusBackend } from "../xenbus-backend.ts";
import { queueOf } from "./flow.ts";
import { type Gso, type NetPort, type NetSwitch, type PortCounters, newCounters } from "./port.ts";
import {
  DEFAULT_MTU,
  ETH_HLEN,
  Keys,
  QUEUE_PAGES,
  type QueuePage,
  pageKey,
  parseMac,
  readUint,
  statKey,
} from "./protocol.ts";

/** How long counters may be stale in xenstore. */
const STATS_DELAY_MS = 100;

export interface NetbackPlatform {
  store: DriverStore;
  mapGrant(domid: number, ref: number): MappedPage;
  bindInterdomain(domid: number, remotePort: number, onEvent: () => void): number;
  notify(port: number): void;
  closePort(port: number): void;
  /** The bridge named by the vif's `bridge` key (made on first use). */
  bridge(name: string): NetSwitch;
  log(line: string): void;
}

/**
 * Features this backend offers (VMXNET_F_*): checksum offload and TSO on transmit (offload.ts, done
 * on dom0's copy of the frame), checksum verification on receive, and several queues.
 */
export const NETBACK_FEATURES =
  VMXNET_F_RXCSUM | VMXNET_F_TXCSUM | VMXNET_F_TSO | VMXNET_F_LRO | VMXNET_F_MULTIQUEUE;

interface Queue {
  q: NetbackQueue;
  pages: MappedPage[];
  port: number;
}

export class NetbackDevice extends XenbusBackend implements NetPort {
  readonly counters: PortCounters = newCounters();
  mac: Uint8Array = new Uint8Array(6);
  mtu = DEFAULT_MTU;
  private queues: Queue[] = [];
  private grants: PersistentGrants | undefined;
  private plugged: NetSwitch | undefined;
  private bridgeName = "pvbr0";
  /** The VMXNET_F_* bits the guest acked. */
  private acked = 0;
  private statsTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly p: NetbackPlatform,
    path: string,
    domid: number,
    devid: number,
  ) {
    super(p, path, domid, devid);
  }

  get name(): string {
    return `vif${this.domid}.${this.devid}`;
  }

  get connected(): boolean {
    return this.queues.length > 0;
  }

  get bridgeOf(): string {
    return this.bridgeName;
  }

  async start(): Promise<void> {
    const at = (k: string) => this.p.store.read(`${this.path}/${k}`);
    this.frontend = (await at(Keys.frontend)) ?? "";
    const mac = parseMac(await at(Keys.mac));
    this.bridgeName = (await at(Keys.bridge)) || "pvbr0";
    const mtu = readUint(await at(Keys.mtu), VMXNET_MAX_MTU);
    if (!this.frontend) return this.fatal(`no ${Keys.frontend} node`);
    if (!mac) return this.fatal(`mac "${(await at(Keys.mac)) ?? ""}" is not a MAC address`);
    this.mac = mac;
    if (mtu !== undefined && mtu >= 68) this.mtu = mtu;
    const w = (k: string, v: string) => this.p.store.write(`${this.path}/${k}`, v);
    await w(Keys.features, String(NETBACK_FEATURES));
    await w(Keys.maxQueues, String(VMXNET_MAX_QUEUES));
    await w(Keys.mtu, String(this.mtu));
    await this.waitForFrontend();
  }

  override async destroy(): Promise<void> {
    if (this.statsTimer !== undefined) clearTimeout(this.statsTimer);
    await super.destroy();
  }

  /** Whether our guest takes whole TSO frames (it acked VMXNET_F_LRO). */
  get takesGso(): boolean {
    return (this.acked & VMXNET_F_LRO) !== 0;
  }

  /** The switch hands our guest a frame: spread over the queues by its flow (flow.ts), as RSS does. */
  send(frame: Uint8Array, gso?: Gso): boolean {
    const n = this.queues.length;
    if (n === 0) {
      this.counters.rxDropped++;
      this.countersChanged();
      return false;
    }
    return this.queues[queueOf(frame, n)]!.q.send(frame, gso);
  }

  /**
   * The counters moved: publish them under statistics/ within STATS_DELAY_MS, once for however many
   * frames moved them meanwhile (a write per frame would cost more than the frame).
   */
  private countersChanged(): void {
    if (this.statsTimer !== undefined || this.gone) return;
    this.statsTimer = setTimeout(() => {
      this.statsTimer = undefined;
      void this.enqueue(() => this.publishStats());
    }, STATS_DELAY_MS);
  }

  private async publishStats(): Promise<void> {
    if (this.gone) return;
    for (const [k, v] of Object.entries(this.counters))
      await this.p.store.write(`${this.path}/${Keys.statistics}/${statKey(k)}`, String(v));
  }

  protected async connect(): Promise<void> {
    const fe = (k: string) => this.p.store.read(`${this.frontend}/${k}`);
    const n = readUint(await fe(Keys.numQueues), VMXNET_MAX_QUEUES) ?? 1;
    if (n < 1) return this.fatal(`${Keys.numQueues} must be 1..${VMXNET_MAX_QUEUES}`);
    const ack = readUint(await fe(Keys.featuresAck), 0xffffffff) ?? 0;
    if (ack & ~NETBACK_FEATURES)
      return this.fatal(`features-ack 0x${ack.toString(16)} asks for what was not offered`);
    this.acked = ack;
    const grants = new PersistentGrants((ref) => this.p.mapGrant(this.domid, ref));
    const queues: Queue[] = [];
    const undo = () => {
      for (const q of queues) {
        q.q.stop();
        if (q.port >= 0) this.p.closePort(q.port);
        for (const m of q.pages) m.unmap();
      }
      grants.clear();
    };
    for (let i = 0; i < n; i++) {
      const dir = `queue-${i}`;
      const mapped: MappedPage[] = [];
      const views = {} as Record<QueuePage, DataView>;
      for (const page of QUEUE_PAGES) {
        const text = await fe(`${dir}/${pageKey(page)}`);
        const ref = readUint(text, 0xffffffff);
        if (ref === undefined) {
          for (const m of mapped) m.unmap();
          undo();
          return this.fatal(`${dir}/${pageKey(page)} "${text ?? ""}" is not a grant ref`);
        }
        try {
          const m = this.p.mapGrant(this.domid, ref);
          mapped.push(m);
          views[page] = new DataView(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
        } catch (e) {
          for (const m of mapped) m.unmap();
          undo();
          return this.fatal(`mapping ${dir}/${pageKey(page)}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      const remote = readUint(await fe(`${dir}/${Keys.eventChannel}`), 0xffffffff);
      const entry: Queue = { q: undefined as unknown as NetbackQueue, pages: mapped, port: -1 };
      entry.q = new NetbackQueue({
        pages: views,
        grants,
        maxFrame: this.mtu + ETH_HLEN + 4,
        features: ack,
        counters: this.counters,
        countersChanged: () => this.countersChanged(),
        notify: () => this.p.notify(entry.port),
        onFrame: (frame, gso) => this.plugged?.input(this, frame, gso),
        log: (line) => this.p.log(`${this.name}: ${line}`),
      });
      queues.push(entry);
      if (remote === undefined) {
        undo();
        return this.fatal(`${dir}/event-channel is not a port number`);
      }
      try {
        entry.port = this.p.bindInterdomain(this.domid, remote, () => entry.q.kick());
      } catch (e) {
        undo();
        return this.fatal(
          `binding ${dir}/event-channel ${remote}: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }
    this.queues = queues;
    this.grants = grants;
    this.plugged = this.p.bridge(this.bridgeName);
    this.plugged.attach(this);
    await this.p.store.write(`${this.path}/${Keys.link}`, "up");
    await this.publishStats();
    await this.setState(XenbusStateConnected);
    this.p.log(`${this.name}: connected to ${this.bridgeName}, ${n} queue(s), mtu ${this.mtu}`);
    for (const q of queues) q.q.kick(); // frames queued before the bind announced nothing
  }

  protected disconnect(): void {
    this.plugged?.detach(this);
    this.plugged = undefined;
    for (const q of this.queues) {
      q.q.stop();
      this.p.closePort(q.port);
      for (const m of q.pages) {
        try {
          m.unmap();
        } catch {
          // the guest is gone, and its mappings with it
        }
      }
    }
    this.queues = [];
    this.grants?.clear();
    this.grants = undefined;
  }
}
