/**
 * dom0's network backend: a NetbackDevice for each directory the toolstack makes under
 * /local/domain/0/backend/vif (one per vif of each guest), and the bridges they plug into (made on
 * first use by name), with their VXLAN uplinks.
 */
import { NetbackDevice } from "@pvkit/drivers/net/back";
import type { EventPorts } from "../toolstack/hypercall-host.ts";
import type { ProgramGrants } from "../../kernel/sharing.ts";
import type { Xenstored } from "../xenstored/index.ts";
import { BackendDevices, dom0DriverPlatform } from "../backend-devices.ts";
import { Bridge } from "./bridge.ts";
import type { VxlanSpec } from "@pvkit/abi/toolstack-protocol";
import { VxlanUplink } from "./uplink.ts";

export const VIF_ROOT = "/local/domain/0/backend/vif";

export class NetbackService {
  readonly bridges = new Map<string, Bridge>();
  /** VXLAN uplinks, by bridge name (one per bridge). */
  readonly uplinks = new Map<string, VxlanUplink>();
  private readonly devices: BackendDevices<NetbackDevice>;

  constructor(
    xs: Xenstored,
    grants: Pick<ProgramGrants, "map" | "mapMany">,
    events: EventPorts,
    private readonly log: (line: string) => void,
  ) {
    const platform = {
      ...dom0DriverPlatform(xs, grants, events, log),
      bridge: (name: string) => this.bridge(name),
    };
    this.devices = new BackendDevices(
      xs,
      VIF_ROOT,
      (path, domid, devid) => new NetbackDevice(platform, path, domid, devid),
      log,
    );
  }

  start(): void {
    this.devices.start();
  }

  /** The bridge called `name`, made on first use. */
  bridge(name: string): Bridge {
    let b = this.bridges.get(name);
    if (!b) this.bridges.set(name, (b = new Bridge(name)));
    return b;
  }

  /** Every vif being served (for `pvkit network-list`). */
  list(): NetbackDevice[] {
    return this.devices.list();
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
    for (const up of this.uplinks.values()) up.close();
    this.uplinks.clear();
    await this.devices.close();
  }
}
