/**
 * The kernel's disks: at boot it finds every `device/vbd/<vdev>` the toolstack gave this domain,
 * runs blkfront's handshake for each (in parallel), and keeps them by name (xvda, xvdb, ...) as
 * BlockDevices for the filesystem and for programs (`k.blk`). A disk whose backend never connects
 * is reported and left out; boot goes on without it. At shutdown each disk is closed properly, so
 * dom0 sees Closing/Closed and unmaps our pages before the domain ends.
 */
import { BlkIoError } from "@pvkit/drivers/blk/front";
import { Blkfront } from "@pvkit/drivers/blk/front-xenbus";
import type { FrontendPlatform } from "@pvkit/drivers/frontend-platform";
import type { XenStoreClient } from "../xenbus/client.ts";
import { BlockError, type BlockDeviceInfo, type DiskDevice, checkRequest } from "./device.ts";

/** What the disks need of the kernel. */
export interface DiskDeps {
  domid: number;
  xs: XenStoreClient;
  /** The kernel as blkfront sees it (kernel/frontends.ts). */
  platform: FrontendPlatform;
  /** Pages the persistent-grant pool of each disk may grow to. */
  poolPages: number;
  log(line: string): void;
}

interface Disk {
  front: Blkfront;
  device: DiskDevice;
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
        const front = new Blkfront(this.d.platform, `${home}/device/vbd/${id}`);
        try {
          const info = await front.connect({ poolPages: this.d.poolPages });
          const mib = (info.sectors * 512) / 2 ** 20;
          this.d.log(
            `${info.name}: ${info.sectors} sectors (${mib >= 1 ? `${mib.toFixed(1)} MiB` : `${info.sectors / 2} KiB`})` +
              `${info.readonly ? ", read-only" : ""}, ${info.maxSegments} pages per request`,
          );
          this.disks.set(info.name, { front, device: blockDevice(front) });
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

  get(name: string): DiskDevice | undefined {
    return this.disks.get(name)?.device;
  }

  /** Closes every disk (shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.disks.values()].map((d) => d.front.close()));
    this.disks.clear();
  }
}

/** A connected blkfront as the kernel's BlockDevice: requests checked first, errors as BlockError. */
function blockDevice(front: Blkfront): DiskDevice {
  const q = front.queue;
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
    buffer(bytes) {
      if (!Number.isSafeInteger(bytes) || bytes < 0)
        throw new BlockError("EINVAL", `${info.name}: a buffer of ${bytes} bytes`);
      return (bytes > 0 && front.buffer(bytes)) || new Uint8Array(bytes);
    },
    release(buf) {
      front.releaseBuffer(buf);
    },
  };
}
