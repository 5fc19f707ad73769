/**
 * dom0's block backend: it watches /local/domain/0/backend/vbd, where the toolstack makes one
 * directory per disk of each guest (backend/vbd/<domid>/<vdev>), and runs a BlkbackDevice for each
 * — the xenbus handshake, the ring, the image file. A directory that disappears (the domain was
 * destroyed, or the disk detached) ends its device. One device failing never stops another.
 */
import { BlkbackDevice, type BlkbackPlatform } from "@pvkit/drivers/blk/back";
import type { DriverStore } from "@pvkit/drivers/blk/protocol";
import type { EventPorts } from "../toolstack/hypercall-host.ts";
import type { ProgramGrants } from "../../kernel/sharing.ts";
import type { Xenstored } from "../xenstored/index.ts";
import { openFileStore } from "./file-store.ts";

export const BACKEND_ROOT = "/local/domain/0/backend/vbd";

/** dom0's own xenstore, as the driver's async store. */
export function localDriverStore(xs: Xenstored): DriverStore {
  return {
    read: async (path) => xs.tryRead(path),
    write: async (path, value) => xs.write(path, value),
    watch: async (path, cb) => xs.watch(path, () => cb()),
  };
}

export class BlkbackService {
  private readonly devices = new Map<string, BlkbackDevice>();
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly xs: Xenstored,
    private readonly grants: Pick<ProgramGrants, "map">,
    private readonly events: EventPorts,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.unwatch = this.xs.watch(BACKEND_ROOT, () => this.scan());
  }

  /** The devices being served, for `pvkit block-list` and tests. */
  list(): { domid: number; devid: number; connected: boolean; stats?: BlkbackDevice["stats"] }[] {
    return [...this.devices.values()].map((d) => ({
      domid: d.domid,
      devid: d.devid,
      connected: d.connected,
      stats: d.stats,
    }));
  }

  async close(): Promise<void> {
    this.unwatch?.();
    await Promise.all([...this.devices.values()].map((d) => d.destroy()));
    this.devices.clear();
  }

  private scan(): void {
    const seen = new Set<string>();
    for (const dom of this.ls(BACKEND_ROOT)) {
      for (const dev of this.ls(`${BACKEND_ROOT}/${dom}`)) {
        const key = `${dom}/${dev}`;
        const domid = Number(dom);
        const devid = Number(dev);
        if (!Number.isInteger(domid) || !Number.isInteger(devid)) continue;
        // A directory still being written by the toolstack has no state yet: wait for it.
        if (this.xs.tryRead(`${BACKEND_ROOT}/${key}/state`) === undefined) continue;
        seen.add(key);
        if (this.devices.has(key)) continue;
        const device = new BlkbackDevice(this.platform(), `${BACKEND_ROOT}/${key}`, domid, devid);
        this.devices.set(key, device);
        void device
          .start()
          .catch((e) => this.log(`blkback ${key}: ${e instanceof Error ? e.message : String(e)}`));
      }
    }
    for (const [key, device] of this.devices) {
      if (seen.has(key)) continue;
      this.devices.delete(key);
      void device.destroy();
    }
  }

  private ls(path: string): string[] {
    try {
      return this.xs.directory(path);
    } catch {
      return [];
    }
  }

  private platform(): BlkbackPlatform {
    return {
      store: localDriverStore(this.xs),
      mapGrant: (domid, ref) => {
        const m = this.grants.map(domid, ref);
        return { bytes: new Uint8Array(m.view.buffer, m.view.byteOffset, 4096), unmap: () => m.unmap() };
      },
      bindInterdomain: (domid, port, onEvent) => this.events.bindInterdomain(domid, port, () => onEvent()),
      notify: (port) => this.events.notify(port),
      closePort: (port) => this.events.close(port),
      openStore: openFileStore,
      log: this.log,
    };
  }
}
