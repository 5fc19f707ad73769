/**
 * The kernel's disks: at boot it finds every `device/vbd/<vdev>` the toolstack gave this domain,
 * runs blkfront's handshake for each (in parallel), and keeps them by name (xvda, xvdb, ...) as
 * BlockDevices for the filesystem and for programs (`k.blk`). A disk whose backend never connects
 * is reported and left out; boot goes on without it. At shutdown each disk is closed properly, so
 * dom0 sees Closing/Closed and unmaps our pages before the domain ends.
 */
import { BlkIoError, type BlkfrontQueue } from "@pvkit/drivers/blk/front";
import { Blkfront, type BlkfrontPlatform } from "@pvkit/drivers/blk/front-xenbus";
import type { DriverStore } from "@pvkit/drivers/blk/protocol";
import type { XenStoreClient } from "../xenbus/client.ts";
import { type BlockDevice, BlockError, type BlockDeviceInfo, checkRequest } from "./device.ts";

/** What the disks need of the kernel. */
export interface DiskDeps {
  domid: number;
  xs: XenStoreClient;
  allocPage(): { pfn: number; view: DataView };
  freePage(pfn: number): void;
  grant(domid: number, pfn: number, readonly: boolean): number;
  endGrant(ref: number): boolean;
  allocUnbound(remoteDom: number, onEvent: () => void): number;
  notify(port: number): void;
  closePort(port: number): void;
  /** Pages the persistent-grant pool of each disk may grow to. */
  poolPages: number;
  log(line: string): void;
}

interface Disk {
  front: Blkfront;
  device: BlockDevice;
}

export class Disks {
  private readonly disks = new Map<string, Disk>();

  constructor(private readonly d: DiskDeps) {}

  /** Connects every disk the toolstack configured; logs one line per disk. */
  async probe(): Promise<void> {
    const home = `/local/domain/${this.d.domid}`;
    const ids = await this.d.xs.directory(`${home}/device/vbd`).catch(() => [] as string[]);
    await Promise.all(
      ids.map(async (id) => {
        const front = new Blkfront(this.platform(), `${home}/device/vbd/${id}`);
        try {
          const info = await front.connect({ poolPages: this.d.poolPages });
          const mib = (info.sectors * 512) / 2 ** 20;
          this.d.log(
            `${info.name}: ${info.sectors} sectors (${mib >= 1 ? `${mib.toFixed(1)} MiB` : `${info.sectors / 2} KiB`})` +
              `${info.readonly ? ", read-only" : ""}, ${info.maxSegments} pages per request`,
          );
          this.disks.set(info.name, { front, device: blockDevice(front.queue) });
        } catch (e) {
          this.d.log(`vbd ${id}: ${e instanceof Error ? e.message : String(e)}; going on without it`);
        }
      }),
    );
  }

  list(): BlockDeviceInfo[] {
    return [...this.disks.values()]
      .map(({ device: { name, sectors, sectorSize, readonly, flushes, discards } }) => ({
        name,
        sectors,
        sectorSize,
        readonly,
        flushes,
        discards,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): BlockDevice | undefined {
    return this.disks.get(name)?.device;
  }

  /** Closes every disk (shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.disks.values()].map((d) => d.front.close()));
    this.disks.clear();
  }

  private platform(): BlkfrontPlatform {
    const xs = this.d.xs;
    const store: DriverStore = {
      read: (p) => xs.tryRead(p),
      write: (p, v) => xs.write(p, v),
      watch: async (p, cb) => {
        const token = await xs.watch(p, () => cb());
        return () => void xs.unwatch(token).catch(() => undefined);
      },
    };
    const d = this.d;
    return {
      store,
      allocPage: () => d.allocPage(),
      freePage: (pfn) => d.freePage(pfn),
      grant: (domid, pfn, ro) => d.grant(domid, pfn, ro),
      endGrant: (ref) => d.endGrant(ref),
      allocUnbound: (dom, cb) => d.allocUnbound(dom, cb),
      notify: (port) => d.notify(port),
      closePort: (port) => d.closePort(port),
      log: (line) => d.log(line),
    };
  }
}

/** A connected blkfront as the kernel's BlockDevice: requests checked first, errors as BlockError. */
function blockDevice(q: BlkfrontQueue): BlockDevice {
  const info = q.info;
  const wrap = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e: unknown) => {
      throw e instanceof BlkIoError ? new BlockError(e.code, e.message.replace(/^\w+: /, "")) : e;
    });
  return {
    name: info.name,
    sectors: info.sectors,
    sectorSize: info.sectorSize,
    readonly: info.readonly,
    flushes: info.flushes,
    discards: info.discards,
    async read(sector, buf) {
      checkRequest(info, "read", sector, buf.length);
      return wrap(q.read(sector, buf));
    },
    async write(sector, data) {
      checkRequest(info, "write", sector, data.length);
      return wrap(q.write(sector, data));
    },
    flush: () => wrap(q.flush()),
    async discard(sector, count) {
      checkRequest(info, "discard", sector, count * 512);
      return wrap(q.discard(sector, count));
    },
  };
}
