/**
 * The kernel's disks: every `device/vbd/<vdev>` the toolstack gives this domain, at boot and after
 * (`pvkit block-attach`), connected by blkfront and kept by name (xvda, xvdb, ...) as BlockDevices
 * for the filesystem and for programs (`k.blk`). The xenbus bus (xenbus/frontend-devices.ts) does
 * the following, detaching and closing; this file is what is particular to disks: the pool of
 * persistent grants, the line each disk logs, and that a mounted disk is refused to a detach
 * (Linux's "Device in use; refusing to close").
 */
import { BlkIoError } from "@pvkit/drivers/blk/front";
import { Blkfront } from "@pvkit/drivers/blk/front-xenbus";
import type { FrontendPlatform } from "@pvkit/drivers/frontend-platform";
import type { XenStoreClient } from "../xenbus/client.ts";
import { FrontendDevices } from "../xenbus/frontend-devices.ts";
import { BlockError, type BlockDeviceInfo, type DiskDevice, checkRequest } from "./device.ts";

/** What the disks need of the kernel. */
export interface DiskDeps {
  domid: number;
  xs: XenStoreClient;
  /** The kernel as blkfront sees it (kernel/frontends.ts). */
  platform: FrontendPlatform;
  /** Pages the persistent-grant pool of each disk may grow to. */
  poolPages: number;
  /** Whether disk `name` must not be taken away (a file system is mounted on it). */
  inUse(name: string): boolean;
  log(line: string): void;
}

export class Disks {
  private readonly bus: FrontendDevices<DiskDevice>;

  constructor(d: DiskDeps) {
    this.bus = new FrontendDevices(d.xs, d.domid, {
      kind: "vbd",
      log: d.log,
      inUse: (name) => (d.inUse(name) ? `${name} is in use (a file system is mounted on it)` : undefined),
      async connect(dir) {
        const front = new Blkfront(d.platform, dir);
        const info = await front.connect({ poolPages: d.poolPages });
        const mib = (info.sectors * 512) / 2 ** 20;
        d.log(
          `${info.name}: ${info.sectors} sectors (${mib >= 1 ? `${mib.toFixed(1)} MiB` : `${info.sectors / 2} KiB`})` +
            `${info.readonly ? ", read-only" : ""}, ${info.maxSegments} pages per request`,
        );
        return {
          name: info.name,
          device: blockDevice(front),
          backend: front.backendDir,
          close: (ms) => front.close(ms),
        };
      },
    });
  }

  /** Connects every disk the toolstack configured; logs one line per disk. */
  probe(): Promise<void> {
    return this.bus.probe();
  }

  /** From now on, connects the disks the toolstack adds and lets go of those it takes away. */
  follow(): Promise<void> {
    return this.bus.follow();
  }

  list(): BlockDeviceInfo[] {
    return this.bus
      .list()
      .map(({ name, sectors, sectorSize, readonly, flushes, discards }) => ({
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
    return this.bus.get(name);
  }

  /** Closes every disk (shutdown). */
  close(): Promise<void> {
    return this.bus.close();
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
