/**
 * `pvkit block-attach` and `pvkit block-detach` (xl's): a disk added to a running domain, or taken
 * from it.
 *
 * Attach writes one disk's frontend and backend directories, as create does for `disk = [...]`
 * (disks.ts): dom0's blkback takes up the new backend directory, and the guest's kernel, which
 * follows its device/vbd, connects the new disk as it connects those it booted with. It answers
 * once the guest has connected it, or says that it has not. Detach is device-hotplug.ts's; the
 * guest refuses a disk it has mounted.
 */
import { vdevNumber } from "@pvkit/drivers/blk/protocol";
import type { DiskSpec } from "./cfg-devices.ts";
import { parseDisk } from "./cfg-devices.ts";
import {
  HOTPLUG_TIMEOUT_MS,
  HotplugError,
  type HotplugStore,
  detachDevice,
  frontendConnects,
  hotplugDevice,
} from "./device-hotplug.ts";
import { backendDir, diskProblem, frontendDir, writeDiskEntries } from "./disks.ts";

/**
 * Adds the disk `spec` (a `disk = [...]` entry's text; a relative target is taken from `cwd`) to
 * domain `domid`: its directories are written when this returns. Returns the disk, and whether the
 * guest connected it within `timeoutMs`.
 */
export function attachDisk(
  store: HotplugStore,
  domid: number,
  spec: string,
  cwd: string,
  timeoutMs = HOTPLUG_TIMEOUT_MS,
): { disk: DiskSpec; connected: Promise<boolean> } {
  const disk = parseDisk(spec, 0, cwd, (why) => {
    throw new HotplugError(why.replace(/^disk 0: /, ""));
  });
  const vdev = vdevNumber(disk.vdev);
  if (
    store.tryRead(frontendDir(domid, vdev)) !== undefined ||
    store.tryRead(backendDir(domid, vdev)) !== undefined
  )
    throw new HotplugError(`${disk.vdev} is already attached`);
  const why = diskProblem(disk);
  if (why) throw new HotplugError(`${disk.target}: ${why}`);
  writeDiskEntries(store, domid, [disk]);
  return { disk, connected: frontendConnects(store, frontendDir(domid, vdev), timeoutMs) };
}

/** Takes disk `name` (xvdb) from domain `domid` (device-hotplug.ts says how). */
export async function detachDisk(
  store: HotplugStore,
  domid: number,
  name: string,
  force: boolean,
  timeoutMs = HOTPLUG_TIMEOUT_MS,
): Promise<void> {
  if (!/^xvd[a-z]+$/.test(name)) throw new HotplugError(`"${name}" is not a disk name (xvda, xvdb, ...)`);
  let vdev: number;
  try {
    vdev = vdevNumber(name);
  } catch (e) {
    throw new HotplugError((e as Error).message);
  }
  const dev = hotplugDevice(domid, name, `vbd/${vdev}`, backendDir(domid, vdev));
  await detachDevice(store, dev, force, timeoutMs);
}
