/**
 * A domain's disks in xenstore, as libxl lays them out: for each `disk = [...]` entry a frontend
 * directory the guest owns (/local/domain/<domid>/device/vbd/<vdev>, dom0 may read it) and a backend
 * directory dom0 owns (/local/domain/0/backend/vbd/<domid>/<vdev>, the guest may read it), each
 * naming the other, both in state Initialising. dom0's blkback and the guest's blkfront take it from
 * there. The image is checked before the domain exists, so a typo is create's one-line error.
 */
import { accessSync, constants, statSync } from "node:fs";
import { vdevName, vdevNumber } from "@pvkit/drivers/blk/protocol";
import type { BlockDeviceRow } from "@pvkit/abi/toolstack-protocol";
import type { DiskSpec } from "./cfg-devices.ts";
import { domainPath, type StoreWriter, writeDeviceDirs } from "./store-layout.ts";
import { BACKEND_ROOT } from "../blkback/service.ts";

/** What is wrong with a disk's image, in words, or undefined when it can be served. */
export function diskProblem(d: DiskSpec): string | undefined {
  let st;
  try {
    st = statSync(d.target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT"
      ? "no such file"
      : code === "EACCES"
        ? "permission denied"
        : (e as Error).message;
  }
  if (st.isDirectory()) return "is a directory, not a disk image";
  if (!st.isFile() && !st.isBlockDevice()) return "not a regular file";
  if (st.isFile() && st.size < 512) return `${st.size} bytes is smaller than one sector`;
  try {
    accessSync(d.target, d.readonly ? constants.R_OK : constants.R_OK | constants.W_OK);
  } catch {
    return d.readonly ? "not readable" : "not writable (use access=r for a read-only disk)";
  }
  return undefined;
}

/** A disk's frontend directory (the guest's) and backend directory (dom0's), by device number. */
export const frontendDir = (domid: number, vdev: number) => `${domainPath(domid)}/device/vbd/${vdev}`;
export const backendDir = (domid: number, vdev: number) => `${BACKEND_ROOT}/${domid}/${vdev}`;

export function writeDiskEntries(store: StoreWriter, domid: number, disks: readonly DiskSpec[]): void {
  const seen = new Set<number>();
  for (const d of disks) {
    const vdev = vdevNumber(d.vdev);
    if (seen.has(vdev)) throw new Error(`two disks are named ${d.vdev}`);
    seen.add(vdev);
    const fe = frontendDir(domid, vdev);
    const be = backendDir(domid, vdev);
    writeDeviceDirs(
      store,
      domid,
      { fe, be },
      [
        ["virtual-device", String(vdev)],
        ["device-type", "disk"],
        ["state", "1"],
      ],
      [
        ["online", "1"],
        ["removable", "0"],
        ["bootable", "1"],
        ["type", "file"],
        ["params", d.target],
        ["mode", d.readonly ? "r" : "w"],
        ["dev", d.vdev],
        ["device-type", "disk"],
        ["state", "1"],
      ],
    );
  }
}

export function removeDiskEntries(store: StoreWriter, domid: number): void {
  if (store.tryRead(`${BACKEND_ROOT}/${domid}`) !== undefined) store.rm(`${BACKEND_ROOT}/${domid}`);
}

/** `pvkit block-list`: the domain's disks as both ends describe them in xenstore. */
export function blockList(
  store: { tryRead(path: string): string | undefined; directory(path: string): string[] },
  domid: number,
): BlockDeviceRow[] {
  const dir = `${domainPath(domid)}/device/vbd`;
  let ids: string[];
  try {
    ids = store.directory(dir);
  } catch {
    return [];
  }
  const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : -1);
  return ids
    .map((id) => {
      const fe = `${dir}/${id}`;
      // Built from the ids, not read from the guest's `backend` node, which it may point anywhere.
      const be = /^\d+$/.test(id) ? backendDir(domid, Number(id)) : "";
      return {
        vdev: Number(id),
        name: vdevName(Number(id)) ?? id,
        backendId: num(store.tryRead(`${fe}/backend-id`)),
        state: num(store.tryRead(`${fe}/state`)),
        backendState: num(store.tryRead(`${be}/state`)),
        eventChannel: num(store.tryRead(`${fe}/event-channel`)),
        ringRef: num(store.tryRead(`${fe}/ring-ref`) ?? store.tryRead(`${fe}/ring-ref0`)),
        backendPath: be,
        params: store.tryRead(`${be}/params`) ?? "",
        mode: store.tryRead(`${be}/mode`) ?? "",
      };
    })
    .sort((a, b) => a.vdev - b.vdev);
}
