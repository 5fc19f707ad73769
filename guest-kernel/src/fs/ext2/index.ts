/**
 * ext2 for the guest kernel: mount an existing image (mountExt2), format a device (mkfsExt2). The
 * FsApi in ../fs-api.ts gives programs a node:fs/promises-shaped view of a mounted one.
 */
import type { BlockDevice } from "../../block/device.ts";
import { Ext2Fs } from "./ext2fs.ts";
import type { MountOptions } from "./volume.ts";

export { Ext2Fs } from "./ext2fs.ts";
export type { DirEntryInfo, OpenOptions, Owner, StatFs, StatInfo } from "./ext2fs.ts";
export { mkfsExt2, type MkfsOptions, type MkfsResult } from "./mkfs.ts";
export type { MountOptions } from "./volume.ts";

/**
 * Mounts the ext2 filesystem on `dev`. Refuses (EINVAL, naming them) features it cannot read; mounts
 * read-only when it cannot write them, when `dev` is read-only, or when asked. Call unmount() at the
 * end so the image is marked clean.
 */
export function mountExt2(dev: BlockDevice, opts: MountOptions): Promise<Ext2Fs> {
  return Ext2Fs.mount(dev, opts);
}
