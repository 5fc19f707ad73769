/**
 * An inode's birth and death. A new file, directory or symlink gets an inode (near its directory, or
 * spread out for a directory), its first contents, and then its name; if anything fails part way
 * (out of space for the directory's new block, say) what was allocated is given back, so a failed call
 * leaves the filesystem as it was.
 *
 * An inode whose last link goes (and that no open file holds) is released: its blocks freed, i_dtime
 * set (e2fsck takes a zero dtime on an unused inode as a sign of an interrupted delete), its bit
 * cleared. An xattr block (i_file_acl, shared by inodes with equal attributes) loses one reference and
 * is freed with its last one.
 */
import { corrupt, fsError } from "../errors.ts";
import { put32, u32 } from "./bytes.ts";
import { ensureBlock, freeBlocksFrom, goalFor } from "./blockmap.ts";
import { addEntry, firstDirBlock } from "./directory.ts";
import { S_IFDIR, S_IFMT, fileTypeOf, newInode, writeInode, type Inode } from "./inode.ts";
import { writeLink } from "./symlink.ts";
import type { Volume } from "./volume.ts";

/** Linux's ext2 limit on i_links_count (a directory's count includes each subdirectory's ".."). */
export const LINK_MAX = 32000;

const XATTR_MAGIC = 0xea020000;

export interface NewNode {
  mode: number;
  uid: number;
  gid: number;
  /** For a symlink: its target. */
  target?: Uint8Array;
}

/** Creates an inode of `node.mode`'s type named `name` in `parent`; returns it. Writes `parent`. */
export async function createNode(
  vol: Volume,
  parent: Inode,
  name: Uint8Array,
  node: NewNode,
): Promise<Inode> {
  const isDir = (node.mode & S_IFMT) === S_IFDIR;
  if (isDir && parent.links >= LINK_MAX)
    throw fsError("EMLINK", `directory inode ${parent.ino} has ${parent.links} links`);
  const ino = await vol.groups.allocInode(parent.ino, isDir);
  const inode = newInode(vol, ino, node.mode, node.uid, node.gid);
  try {
    if (isDir) {
      inode.links = 2;
      const { block } = await ensureBlock(vol, inode, 0, await goalFor(vol, inode, 0));
      await vol.cache.put(block, firstDirBlock(vol, ino, parent.ino));
      inode.size = vol.blockSize;
      await writeInode(vol, inode);
    } else if (node.target) await writeLink(vol, inode, node.target);
    else await writeInode(vol, inode);
    await addEntry(vol, parent, name, ino, fileTypeOf(node.mode));
  } catch (e) {
    // Undo: the entry was the last step, so nothing names the inode yet.
    await releaseInode(vol, inode).catch(() => {});
    throw e;
  }
  if (isDir) {
    parent.links++;
    await writeInode(vol, parent);
  }
  return inode;
}

/** True if the inode's i_block holds block pointers (not a fast symlink's text or a device number). */
export function hasBlockMap(inode: Inode): boolean {
  return inode.isFile || inode.isDir || (inode.isSymlink && !inode.isFastSymlink);
}

/** Frees an inode with no links left: its blocks, its xattr block reference, the inode itself. */
export async function releaseInode(vol: Volume, inode: Inode): Promise<void> {
  if (hasBlockMap(inode)) await freeBlocksFrom(vol, inode, 0);
  else inode.block.fill(0);
  if (inode.fileAcl !== 0) await dropXattrBlock(vol, inode);
  inode.links = 0;
  inode.size = 0;
  inode.dtime = vol.now();
  await writeInode(vol, inode);
  await vol.groups.freeInode(inode.ino, inode.isDir);
}

/** Drops the inode's reference to its xattr block, freeing the block with its last reference. */
async function dropXattrBlock(vol: Volume, inode: Inode): Promise<void> {
  const block = inode.fileAcl;
  vol.groups.checkDataBlock(block, `inode ${inode.ino}'s xattr block`);
  const buf = await vol.cache.get(block);
  if (u32(buf, 0) !== XATTR_MAGIC)
    throw corrupt(`inode ${inode.ino}'s xattr block ${block} has no xattr header`);
  const refs = u32(buf, 4);
  if (refs <= 1) {
    await vol.groups.freeBlock(block);
    inode.blocks = Math.max(0, inode.blocks - vol.blockSize / 512);
  } else await vol.cache.modify(block, (b) => put32(b, 4, refs - 1));
  inode.fileAcl = 0;
}
