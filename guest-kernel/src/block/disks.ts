/**
 * The kernel's disks: at boot it finds every `device/vbd/<vdev>` the toolstack gave this domain,
 * runs blkfront's handshake for each (in parallel), and keeps them by name (xvda, xvdb, ...) as
 * BlockDevices for the filesystem and for programs (`k.blk`). A disk whose backend never connects
 * is reported and left out; boot goes on without it. At shutdown each disk is closed properly, so
 * dom0 sees Closing/Closed and unmaps our pages before the domain ends.
 *
 * After boot it follows device/vbd, as Linux's xenbus frontend does: a disk the toolstack adds
 * (`pvkit block-attach`) is connected like the first ones, and one whose backend goes to Closing
 * with `online` at 0 (`pvkit block-detach` asks so) is closed and forgotten — unless it is in use (the mounted root):
 * then it stays, and error/device/vbd/<vdev>/error says why, as Linux's "Device in use; refusing
 * to close".
 */
import { XenbusStateClosing } from "@pvkit/abi/layout";
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
  /** Whether disk `name` must not be taken away (a file system is mounted on it). */
  inUse(name: string): boolean;
  log(line: string): void;
}

/** How long closing a disk the toolstack removed waits for its (gone) backend's state. */
const FORCED_CLOSE_MS = 1000;

interface Disk {
  /** Its directory's name under device/vbd (the virtual device number). */
  id: string;
  front: Blkfront;
  device: DiskDevice;
  /** Stops following its backend's state. */
  unwatch(): void;
}

export class Disks {
  private readonly disks = new Map<string, Disk>();
  /** device/vbd ids seen: connected, connecting, or failed (not tried again while they stay). */
  private readonly known = new Set<string>();
  private readonly home: string;
  /** Stops following device/vbd (set by follow()). */
  private unfollow: (() => void) | undefined;
  /** Set by close(): nothing is connected any more. */
  private closed = false;

  constructor(private readonly d: DiskDeps) {
    this.home = `/local/domain/${d.domid}`;
  }

  /** Connects every disk the toolstack configured; logs one line per disk. */
  async probe(): Promise<void> {
    await this.scan();
  }

  /** From now on, connects the disks the toolstack adds and lets go of those it takes away. */
  async follow(): Promise<void> {
    const dir = `${this.home}/device/vbd`;
    const token = await this.d.xs.watch(dir, (path) => {
      // A node inside a disk's directory (its own state, ring-ref, ...) is no news; a directory
      // appearing or going is.
      const rest = path.slice(dir.length + 1);
      const slash = rest.indexOf("/");
      if (slash < 0 || !this.known.has(rest.slice(0, slash))) void this.scan();
    });
    if (this.closed) void this.d.xs.unwatch(token).catch(() => undefined);
    else this.unfollow = () => void this.d.xs.unwatch(token).catch(() => undefined);
  }

  private async scan(): Promise<void> {
    if (this.closed) return;
    const ids = await this.d.xs.directory(`${this.home}/device/vbd`).catch(() => [] as string[]);
    if (this.closed) return;
    for (const id of this.known)
      if (!ids.includes(id)) {
        // Gone without a Closing first (a forced detach): the backend no longer serves it.
        this.known.delete(id);
        for (const [name, disk] of this.disks)
          if (disk.id === id) {
            this.disks.delete(name);
            disk.unwatch();
            // Its requests fail now; the grants end once the backend (being destroyed) unmapped.
            void disk.front.close(FORCED_CLOSE_MS).then(() => this.d.log(`${name}: detached`));
          }
      }
    await Promise.all(ids.filter((id) => !this.known.has(id)).map((id) => this.connect(id)));
  }

  private async connect(id: string): Promise<void> {
    this.known.add(id);
    const front = new Blkfront(this.d.platform, `${this.home}/device/vbd/${id}`);
    try {
      const info = await front.connect({ poolPages: this.d.poolPages });
      const mib = (info.sectors * 512) / 2 ** 20;
      this.d.log(
        `${info.name}: ${info.sectors} sectors (${mib >= 1 ? `${mib.toFixed(1)} MiB` : `${info.sectors / 2} KiB`})` +
          `${info.readonly ? ", read-only" : ""}, ${info.maxSegments} pages per request`,
      );
      // Not waited for: boot does not pay the watch's round trip.
      const backend = front.backendDir;
      const watching = this.d.xs.watch(
        `${backend}/state`,
        () => void this.backendChanged(info.name, backend),
      );
      const unwatch = () => void watching.then((token) => this.d.xs.unwatch(token)).catch(() => undefined);
      this.disks.set(info.name, { id, front, device: blockDevice(front), unwatch });
    } catch (e) {
      this.d.log(`vbd ${id}: ${e instanceof Error ? e.message : String(e)}; going on without it`);
    }
  }

  /**
   * The backend of disk `name` changed state. Closing with `online` at 0 is the toolstack asking us
   * to let go (libxl's detach); a Closing of blkback's own (it gave up on a ring: xenbus_dev_fatal)
   * leaves the disk to fail its requests, as before.
   */
  private async backendChanged(name: string, backend: string): Promise<void> {
    const disk = this.disks.get(name);
    if (!disk) return;
    const read = (key: string) => this.d.xs.tryRead(`${backend}/${key}`).catch(() => undefined);
    if ((await read("state")) !== String(XenbusStateClosing) || (await read("online")) !== "0") return;
    if (this.d.inUse(name)) {
      await this.d.xs
        .write(
          `${this.home}/error/device/vbd/${disk.id}/error`,
          `${name} is in use (a file system is mounted on it)`,
        )
        .catch(() => undefined);
      return;
    }
    this.disks.delete(name);
    disk.unwatch();
    await disk.front.close();
    this.d.log(`${name}: detached`);
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
    this.closed = true;
    this.unfollow?.();
    for (const d of this.disks.values()) d.unwatch();
    this.known.clear();
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
