/**
 * The root file system: after blkfront connected the disks, the kernel mounts the one named by
 * `root=` on its command line (default xvda, as Linux's `root=/dev/xvda`) at `/` when it holds ext2,
 * read-only with `ro`. A disk that is not ext2, or whose ext2 uses features this kernel refuses, is
 * left unmounted with one line in the log; the domain still boots. At shutdown the file system is
 * synced and marked clean before the disk closes.
 */
import type { BlockDevice } from "../block/device.ts";
import { FsApi } from "../fs/fs-api.ts";
import { type Ext2Fs, mountExt2 } from "../fs/ext2/index.ts";

/** ext2's magic number, s_magic at byte 56 of the superblock at byte 1024. */
const EXT2_MAGIC = 0xef53;

export interface Mount {
  device: string;
  path: "/";
  type: "ext2";
  readonly: boolean;
  fs: Ext2Fs;
  api: FsApi;
}

/** `root=` and `ro`/`rw` from a Linux-style command line. */
export function rootArgs(cmdline: string): { device: string; readonly: boolean } {
  const words = cmdline.split(/\s+/);
  const root = words.find((w) => w.startsWith("root="))?.slice(5) ?? "xvda";
  return { device: root.replace(/^\/dev\//, ""), readonly: words.includes("ro") && !words.includes("rw") };
}

/** Whether `dev` starts with an ext2 superblock. */
async function holdsExt2(dev: BlockDevice): Promise<boolean> {
  if (dev.sectors < 4) return false;
  const sb = new Uint8Array(1024);
  await dev.read(2, sb);
  return new DataView(sb.buffer).getUint16(56, true) === EXT2_MAGIC;
}

/**
 * Mounts the root disk if there is one that holds ext2; undefined otherwise (logged). `now` gives
 * seconds since the epoch for timestamps.
 */
export async function mountRoot(
  disk: (name: string) => BlockDevice | undefined,
  cmdline: string,
  now: () => number,
  log: (line: string) => void,
): Promise<Mount | undefined> {
  const want = rootArgs(cmdline);
  const dev = disk(want.device);
  if (!dev) {
    if (/(^|\s)root=/.test(cmdline)) log(`root: no disk named ${want.device}; no file system mounted`);
    return undefined;
  }
  try {
    if (!(await holdsExt2(dev))) {
      log(`root: ${dev.name} holds no ext2 file system; not mounted (k.blk still reaches it)`);
      return undefined;
    }
    const fs = await mountExt2(dev, { now, readonly: want.readonly || dev.readonly });
    const readonly = fs.readonly;
    log(`root: ext2 on ${dev.name} mounted at /${readonly ? " read-only" : ""}`);
    return { device: dev.name, path: "/", type: "ext2", readonly, fs, api: new FsApi(fs) };
  } catch (e) {
    log(`root: ${dev.name}: ${e instanceof Error ? e.message : String(e)}; not mounted`);
    return undefined;
  }
}
