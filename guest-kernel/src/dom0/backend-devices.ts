/**
 * What every dom0 backend does the same way, as Linux's xenbus backend core does for blkback and
 * netback: watch a backend root (backend/vbd, backend/vif), run one device object per
 * <domid>/<devid> directory once the toolstack has written its state, and end it when the directory
 * goes (the domain was destroyed, the device detached). One device failing never stops another.
 * `dom0DriverPlatform` is the part of a driver's platform that is dom0's kernel: its xenstore, grant
 * mapping and event channels.
 */
import type { MappedPage } from "@pvkit/drivers/blk/back-grants";
import type { DriverStore } from "@pvkit/drivers/blk/protocol";
import type { MappedGrant, ProgramGrants } from "../kernel/sharing.ts";
import { GrantError } from "../kernel/hypervisor.ts";
import type { EventPorts } from "./toolstack/hypercall-host.ts";
import type { Xenstored } from "./xenstored/index.ts";

/** A backend device: started once, destroyed once. */
export interface BackendDevice {
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** dom0's own xenstore, as the drivers' async store. */
function localDriverStore(xs: Xenstored): DriverStore {
  return {
    read: async (path) => xs.tryRead(path),
    write: async (path, value) => xs.write(path, value),
    watch: async (path, cb) => xs.watch(path, () => cb()),
  };
}

/** What a backend driver needs of dom0's kernel. */
export interface Dom0DriverPlatform {
  store: DriverStore;
  mapGrant(domid: number, ref: number): MappedPage;
  /** Maps many of `domid`'s refs in as few hypercalls as fit; undefined for each that did not map. */
  mapGrants(domid: number, refs: readonly number[]): (MappedPage | undefined)[];
  bindInterdomain(domid: number, remotePort: number, onEvent: () => void): number;
  notify(port: number): void;
  closePort(port: number): void;
  log(line: string): void;
}

const mappedPage = (m: MappedGrant): MappedPage => ({
  bytes: new Uint8Array(m.view.buffer, m.view.byteOffset, 4096),
  unmap: () => m.unmap(),
});

export function dom0DriverPlatform(
  xs: Xenstored,
  grants: Pick<ProgramGrants, "map" | "mapMany">,
  events: EventPorts,
  log: (line: string) => void,
): Dom0DriverPlatform {
  return {
    store: localDriverStore(xs),
    mapGrant: (domid, ref) => mappedPage(grants.map(domid, ref)),
    mapGrants: (domid, refs) =>
      grants.mapMany(domid, refs).map((m) => (m instanceof GrantError ? undefined : mappedPage(m))),
    bindInterdomain: (domid, port, onEvent) => events.bindInterdomain(domid, port, () => onEvent()),
    notify: (port) => events.notify(port),
    closePort: (port) => events.close(port),
    log,
  };
}

export class BackendDevices<D extends BackendDevice> {
  private readonly devices = new Map<string, D>();
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly xs: Xenstored,
    /** /local/domain/0/backend/<type>. */
    readonly root: string,
    private readonly make: (path: string, domid: number, devid: number) => D,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.unwatch = this.xs.watch(this.root, () => this.scan());
  }

  /** The devices being served. */
  list(): D[] {
    return [...this.devices.values()];
  }

  async close(): Promise<void> {
    this.unwatch?.();
    await Promise.all([...this.devices.values()].map((d) => d.destroy()));
    this.devices.clear();
  }

  private scan(): void {
    const seen = new Set<string>();
    for (const dom of this.ls(this.root)) {
      for (const dev of this.ls(`${this.root}/${dom}`)) {
        const key = `${dom}/${dev}`;
        const domid = Number(dom);
        const devid = Number(dev);
        if (!Number.isInteger(domid) || !Number.isInteger(devid)) continue;
        // A directory the toolstack is still writing has no state yet: wait for it.
        if (this.xs.tryRead(`${this.root}/${key}/state`) === undefined) continue;
        seen.add(key);
        if (this.devices.has(key)) continue;
        const device = this.make(`${this.root}/${key}`, domid, devid);
        this.devices.set(key, device);
        void device
          .start()
          .catch((e) => this.log(`${this.root}/${key}: ${e instanceof Error ? e.message : String(e)}`));
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
}
