/**
 * Symbolic links. A target shorter than 60 bytes is a "fast" symlink, stored in the 60 bytes of
 * i_block itself with no data block; a longer one (up to a block less one byte, NUL-terminated, as
 * e2fsck checks) takes one data block.
 */
import { corrupt, fsError } from "../errors.ts";
import { ensureBlock, goalFor, mapBlock } from "./blockmap.ts";
import { writeInode, type Inode } from "./inode.ts";
import type { Volume } from "./volume.ts";

/** Bytes a fast symlink's target may have (i_block is 60 bytes and keeps a terminating NUL). */
const FAST_MAX = 59;

/** The longest target this volume can store. Linux's PATH_MAX caps it too. */
export const maxTarget = (vol: Volume): number => Math.min(vol.blockSize - 1, 4095);

export async function readLink(vol: Volume, inode: Inode): Promise<Uint8Array> {
  const size = inode.size;
  if (size === 0 || size > maxTarget(vol)) throw corrupt(`symlink inode ${inode.ino} has size ${size}`);
  if (inode.isFastSymlink) return inode.raw.slice(40, 40 + size);
  const block = await mapBlock(vol, inode, 0);
  if (block === 0) throw corrupt(`symlink inode ${inode.ino} has no data block`);
  return (await vol.cache.get(block)).slice(0, size);
}

/** Stores `target` in the new symlink `inode` (allocating its block if it is long) and writes the inode. */
export async function writeLink(vol: Volume, inode: Inode, target: Uint8Array): Promise<void> {
  if (target.length === 0) throw fsError("ENOENT", "a symlink's target may not be empty");
  if (target.length > maxTarget(vol))
    throw fsError("ENAMETOOLONG", `a symlink target of ${target.length} bytes (at most ${maxTarget(vol)})`);
  inode.size = target.length;
  if (target.length <= FAST_MAX) {
    const words = new Uint8Array(60);
    words.set(target);
    const view = new DataView(words.buffer);
    for (let i = 0; i < 15; i++) inode.block[i] = view.getUint32(i * 4, true);
  } else {
    const { block } = await ensureBlock(vol, inode, 0, await goalFor(vol, inode, 0));
    const buf = new Uint8Array(vol.blockSize);
    buf.set(target);
    await vol.cache.put(block, buf);
  }
  await writeInode(vol, inode);
}
