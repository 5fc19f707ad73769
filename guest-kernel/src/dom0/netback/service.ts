/**
 * dom0's network backend: it watches /local/domain/0/backend/vif, where the toolstack makes one
 * directory per vif of each guest, runs a NetbackDevice for each, and keeps the bridges they plug
 * into (made on first use by name). A directory that disappears ends its vif; one vif failing never
 * stops another.
 */
import { NetbackDevice, type NetbackPlatform } from "@pvkit/drivers/net/back";
import type { EventPorts } from "../toolstack/hypercall-host.ts";
import type { ProgramGrants } from "../../kernel/sharing.ts";
import type { Xenstored } from "../xenstored/index.ts";
import { localDriverStore } from "../blkback/service.ts";
import { Bridge } from "./bridge.ts";
import type { VxlanSpec } from "@pvkit/abi/toolstack-protocol";
import { VxlanUplink } from "./uplink.ts";

export const VIF_ROOT = "/local/domain/0/backend/vif";

export class NetbackService {
  readonly bridges = new Map<string, Bridge>();
  /** VXLAN uplinks, by bridge name (one per bridge). */
  readonly uplinks = new Map<string, VxlanUplink>();
  private readonly devices = new Map<string, NetbackDevice>();
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly xs: Xenstored,
    private readonly grants: Pick<ProgramGrants, "map">,
    private readonly events: EventPorts,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.unwatch = this.xs.watch(VIF_ROOT, () => this.scan());
  }

  /** The bridge called `name`, made on first use. */
  bridge(name: string): Bridge {
    let b = this.bridges.get(name);
    if (!b) this.bridges.set(name, (b = new Bridge(name)));
    return b;
  }

  /** Every vif being served (for `pvkit network-list`). */
  list(): NetbackDevice[] {
    return [...this.devices.values()];
  }

  /** Plugs a VXLAN uplink into `bridge` (made if new); one per bridge. */
  async addUplink(bridge: string, spec: VxlanSpec): Promise<VxlanUplink> {
    if (this.uplinks.has(bridge)) throw new Error(`${bridge} already has an uplink`);
    const up = new VxlanUplink(spec);
    this.uplinks.set(bridge, up);
    try {
      await up.start(this.bridge(bridge));
    } catch (e) {
      this.uplinks.delete(bridge);
      throw e;
    }
    this.log(`netback: ${bridge} uplink ${up.name} on UDP ${spec.localPort} to ${up.remote}`);
    return up;
  }

  async close(): Promise<void> {
    this.unwatch?.();
    for (const up of this.uplinks.values()) up.close();
    this.uplinks.clear();
    await Promise.all([...this.devices.values()].map((d) => d.destroy()));
    this.devices.clear();
  }

  private scan(): void {
    const seen = new Set<string>();
    for (const dom of this.ls(VIF_ROOT)) {
      for (const dev of this.ls(`${VIF_ROOT}/${dom}`)) {
        const key = `${dom}/${dev}`;
        const domid = Number(dom);
        const devid = Number(dev);
        if (!Number.isInteger(domid) || !Number.isInteger(devid)) continue;
        if (this.xs.tryRead(`${VIF_ROOT}/${key}/state`) === undefined) continue; // still being written
        seen.add(key);
        if (this.devices.has(key)) continue;
        const device = new NetbackDevice(this.platform(), `${VIF_ROOT}/${key}`, domid, devid);
        this.devices.set(key, device);
        void device
          .start()
          .catch((e) => this.log(`netback ${key}: ${e instanceof Error ? e.message : String(e)}`));
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

  private platform(): NetbackPlatform {
    return {
      store: localDriverStore(this.xs),
      mapGrant: (domid, ref) => {
        const m = this.grants.map(domid, ref);
        return { bytes: new Uint8Array(m.view.buffer, m.view.byteOffset, 4096), unmap: () => m.unmap() };
      },
      bindInterdomain: (domid, port, onEvent) => this.events.bindInterdomain(domid, port, () => onEvent()),
      notify: (port) => this.events.notify(port),
      closePort: (port) => this.events.close(port),
      bridge: (name) => this.bridge(name),
      log: this.log,
    };
  }
}
