/**
 * dom0's block backend: a BlkbackDevice for each directory the toolstack makes under
 * /local/domain/0/backend/vbd (one per disk of each guest: backend/vbd/<domid>/<vdev>) — the xenbus
 * handshake, the ring, the image file — as Linux's blkback does in a Xen dom0.
 */
import { BlkbackDevice } from "@pvkit/drivers/blk/back";
import type { ProgramGrants } from "../../kernel/sharing.ts";
import { BackendDevices, dom0DriverPlatform } from "../backend-devices.ts";
import type { EventPorts } from "../toolstack/hypercall-host.ts";
import type { Xenstored } from "../xenstored/index.ts";
import { openFileStore } from "./file-store.ts";

export const BACKEND_ROOT = "/local/domain/0/backend/vbd";

export class BlkbackService {
  private readonly devices: BackendDevices<BlkbackDevice>;

  constructor(
    xs: Xenstored,
    grants: Pick<ProgramGrants, "map" | "mapMany">,
    events: EventPorts,
    log: (line: string) => void,
  ) {
    const platform = { ...dom0DriverPlatform(xs, grants, events, log), openStore: openFileStore };
    this.devices = new BackendDevices(
      xs,
      BACKEND_ROOT,
      (path, domid, devid) => new BlkbackDevice(platform, path, domid, devid),
      log,
    );
  }

  start(): void {
    this.devices.start();
  }

  /** The devices being served, for tests and tools. */
  list(): { domid: number; devid: number; connected: boolean; stats?: BlkbackDevice["stats"] }[] {
    return this.devices
      .list()
      .map((d) => ({ domid: d.domid, devid: d.devid, connected: d.connected, stats: d.stats }));
  }

  close(): Promise<void> {
    return this.devices.close();
  }
}
