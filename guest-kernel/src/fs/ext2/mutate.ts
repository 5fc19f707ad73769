/**
 * The calls that change the namespace: open with create/truncate, mkdir, rmdir, unlink, rename,
 * symlink, link. Each checks everything that can make it fail before it changes anything, then keeps
 * the link counts as e2fsck counts them: a file's i_links_count is its number of names; a directory's
 * is 2 (its name and its ".") plus one per subdirectory (each one's "..").
 *
 * Callers hold the write lock. An inode whose last name goes is handed to `drop` (the filesystem
 * frees it, or keeps it until its last close if it is open).
 */
import { corrupt, fsError } from "../errors.ts";
import { addEntry, findEntry, isEmptyDir, removeEntry, retargetEntry } from "./directory.ts";
import { truncateData } from "./file-data.ts";
import {
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  ROOT_INO,
  fileTypeOf,
  readInode,
  writeInode,
  type Inode,
} from "./inode.ts";
import { createNode, LINK_MAX, releaseInode } from "./lifecycle.ts";
import { lookup, lookupParent, type ParentAndName } from "./namei.ts";
import type { Volume } from "./volume.ts";

export type Drop = (inode: Inode) => Promise<void>;

interface CreateOwner {
  uid?: number;
  gid?: number;
}

const isDots = (name: string) => name === "." || name === "..";
const dotdot = new Uint8Array([0x2e, 0x2e]);

/** A new name's parent and name, refusing "/", ".", ".." and names already there (EEXIST). */
async function newName(vol: Volume, path: string): Promise<ParentAndName> {
  const p = await lookupParent(vol, path);
  if (p.name === "" || isDots(p.name) || (await findEntry(vol, p.dir, p.bytes))) throw fsError("EEXIST");
  return p;
}

export async function openInode(
  vol: Volume,
  path: string,
  opts: {
    write?: boolean;
    create?: boolean;
    exclusive?: boolean;
    truncate?: boolean;
    mode?: number;
  } & CreateOwner,
): Promise<Inode> {
  let inode: Inode | undefined;
  try {
    // O_CREAT|O_EXCL does not follow a symlink in the last place: the name exists, whatever it points at.
    inode = await lookup(vol, path, !(opts.create && opts.exclusive));
  } catch (e) {
    if (!(opts.create && (e as { code?: string }).code === "ENOENT")) throw e;
  }
  if (inode) {
    if (opts.create && opts.exclusive) throw fsError("EEXIST");
    if (inode.isDir && (opts.write || opts.truncate)) throw fsError("EISDIR");
    if (opts.truncate && opts.write && inode.isFile && inode.size > 0) await truncateData(vol, inode, 0);
    return inode;
  }
  vol.checkWritable();
  if (path.endsWith("/")) throw fsError("EISDIR");
  const { dir, name, bytes } = await lookupParent(vol, path);
  if (name === "" || isDots(name)) throw fsError("EISDIR");
  // The name exists but did not resolve: a symlink to nowhere. Creating through it is not done here.
  if (await findEntry(vol, dir, bytes)) throw fsError("ENOENT", "a dangling symbolic link");
  const mode = S_IFREG | ((opts.mode ?? 0o644) & 0o7777);
  return createNode(vol, dir, bytes, { mode, uid: opts.uid ?? 0, gid: opts.gid ?? 0 });
}

export async function mkdir(vol: Volume, path: string, mode: number, owner: CreateOwner): Promise<void> {
  const { dir, bytes } = await newName(vol, path);
  await createNode(vol, dir, bytes, {
    mode: S_IFDIR | (mode & 0o7777),
    uid: owner.uid ?? 0,
    gid: owner.gid ?? 0,
  });
}

export async function symlink(vol: Volume, target: string, path: string, owner: CreateOwner): Promise<void> {
  const { dir, bytes } = await newName(vol, path);
  const t = new TextEncoder().encode(target);
  await createNode(vol, dir, bytes, {
    mode: S_IFLNK | 0o777,
    uid: owner.uid ?? 0,
    gid: owner.gid ?? 0,
    target: t,
  });
}

export async function link(vol: Volume, existing: string, path: string): Promise<void> {
  const inode = await lookup(vol, existing, false);
  if (inode.isDir) throw fsError("EPERM", "hard links to directories are not allowed");
  if (inode.links >= LINK_MAX) throw fsError("EMLINK");
  const { dir, bytes } = await newName(vol, path);
  await addEntry(vol, dir, bytes, inode.ino, fileTypeOf(inode.mode));
  inode.links++;
  inode.ctime = vol.now();
  await writeInode(vol, inode);
}

export async function unlink(vol: Volume, path: string, drop: Drop): Promise<void> {
  const { dir, name, bytes } = await lookupParent(vol, path);
  if (name === "" || isDots(name)) throw fsError("EISDIR");
  const entry = await findEntry(vol, dir, bytes);
  if (!entry) throw fsError("ENOENT");
  const inode = await readInode(vol, entry.ino);
  if (inode.isDir) throw fsError("EISDIR");
  if (path.endsWith("/")) throw fsError("ENOTDIR");
  await removeEntry(vol, dir, bytes);
  await unlinked(vol, inode, drop);
}

/** One name of `inode` is gone. */
async function unlinked(vol: Volume, inode: Inode, drop: Drop): Promise<void> {
  inode.links = Math.max(0, inode.links - 1);
  inode.ctime = vol.now();
  if (inode.links === 0) await drop(inode);
  else await writeInode(vol, inode);
}

export async function rmdir(vol: Volume, path: string, drop: Drop): Promise<void> {
  const { dir, name, bytes } = await lookupParent(vol, path);
  if (name === "") throw fsError("EBUSY", "the root directory");
  if (name === ".") throw fsError("EINVAL");
  if (name === "..") throw fsError("ENOTEMPTY");
  const entry = await findEntry(vol, dir, bytes);
  if (!entry) throw fsError("ENOENT");
  const target = await readInode(vol, entry.ino);
  if (!target.isDir) throw fsError("ENOTDIR");
  if (!(await isEmptyDir(vol, target))) throw fsError("ENOTEMPTY");
  await removeEntry(vol, dir, bytes);
  dir.links = Math.max(2, dir.links - 1);
  await writeInode(vol, dir);
  target.links = 0;
  target.ctime = vol.now();
  await drop(target);
}

/** Throws EINVAL if directory `dirIno` is `ancestor` or inside it (a directory cannot move into itself). */
async function checkNotInside(vol: Volume, dirIno: number, ancestor: number): Promise<void> {
  let cur = dirIno;
  // A tree is at most as deep as there are inodes; more steps than that means a ".." loop on disk.
  for (let steps = 0; steps <= vol.sb.inodesCount; steps++) {
    if (cur === ancestor) throw fsError("EINVAL", "a directory cannot be moved into itself");
    if (cur === ROOT_INO) return;
    const up = await findEntry(vol, await readInode(vol, cur), dotdot);
    if (!up) throw corrupt(`directory inode ${cur} has no ".." entry`);
    cur = up.ino;
  }
  throw corrupt(`the ".." entries above directory inode ${dirIno} form a loop`);
}

export async function rename(vol: Volume, from: string, to: string, drop: Drop): Promise<void> {
  const src = await lookupParent(vol, from);
  const dst = await lookupParent(vol, to);
  if (src.name === "" || dst.name === "") throw fsError("EBUSY", "the root directory");
  if (isDots(src.name) || isDots(dst.name)) throw fsError("EINVAL");
  const srcEntry = await findEntry(vol, src.dir, src.bytes);
  if (!srcEntry) throw fsError("ENOENT");
  const oldDir = src.dir;
  // One object per inode: both directories are written below, and two copies would overwrite each other.
  const newDir = dst.dir.ino === oldDir.ino ? oldDir : dst.dir;
  const moving = await readInode(vol, srcEntry.ino);
  if (!moving.isDir && (from.endsWith("/") || to.endsWith("/"))) throw fsError("ENOTDIR");
  const dstEntry = await findEntry(vol, newDir, dst.bytes);
  if (dstEntry?.ino === moving.ino) return; // two names of one file: POSIX says do nothing
  if (moving.isDir) await checkNotInside(vol, newDir.ino, moving.ino);
  const target = dstEntry && (await readInode(vol, dstEntry.ino));
  if (target) {
    if (moving.isDir && !target.isDir) throw fsError("ENOTDIR");
    if (!moving.isDir && target.isDir) throw fsError("EISDIR");
    if (target.isDir && !(await isEmptyDir(vol, target))) throw fsError("ENOTEMPTY");
  } else if (moving.isDir && newDir !== oldDir && newDir.links >= LINK_MAX) throw fsError("EMLINK");

  const type = fileTypeOf(moving.mode);
  if (target) await retargetEntry(vol, newDir, dst.bytes, moving.ino, type);
  else await addEntry(vol, newDir, dst.bytes, moving.ino, type);
  await removeEntry(vol, oldDir, src.bytes);
  if (moving.isDir && newDir !== oldDir) {
    await retargetEntry(vol, moving, dotdot, newDir.ino, 2);
    oldDir.links = Math.max(2, oldDir.links - 1);
    newDir.links++;
  }
  moving.ctime = vol.now();
  await writeInode(vol, moving);
  if (target?.isDir) newDir.links = Math.max(2, newDir.links - 1);
  await writeInode(vol, oldDir);
  if (newDir !== oldDir) await writeInode(vol, newDir);
  if (target) {
    if (target.isDir) {
      target.links = 0;
      target.ctime = vol.now();
      await drop(target);
    } else await unlinked(vol, target, drop);
  }
}

/** Frees inode `ino` (its last name is gone and nothing holds it open). */
export async function releaseByIno(vol: Volume, ino: number, inode?: Inode): Promise<void> {
  await releaseInode(vol, inode ?? (await readInode(vol, ino)));
}
