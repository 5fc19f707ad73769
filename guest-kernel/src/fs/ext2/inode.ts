/**
 * Inodes: the per-file record (type and permissions, owner, size, times, link count, and the 15 block
 * pointers i_block). Inode n lives in group (n-1) / inodesPerGroup, at index (n-1) % inodesPerGroup
 * of that group's inode table; each is `inodeSize` bytes (128 in revision 0; 256 by default now).
 *
 * An Inode object is a parsed copy. It keeps the on-disk bytes it came from, so the fields this
 * filesystem does not interpret (the large inode's extra space and in-inode xattrs, i_file_acl,
 * generation, OS-specific words) are written back exactly as they were.
 */
import { corrupt } from "../errors.ts";
import { put16, put32, u16, u32 } from "./bytes.ts";
import type { Volume } from "./volume.ts";

export const ROOT_INO = 2;
/** Pointers in i_block: 12 direct, then single, double and triple indirect. */
export const N_DIRECT = 12;
export const IND = 12;
export const DIND = 13;
export const TIND = 14;

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** i_flags bits this filesystem looks at. */
export const INDEX_FL = 0x1000; // the directory has an htree index (dir_index)
export const UNSUPPORTED_FL = 0x80000 | 0x10000000; // extents, inline data: not ext2's block map

/** The directory-entry file type (filetype feature) for a mode. */
export function fileTypeOf(mode: number): number {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return 1;
    case S_IFDIR:
      return 2;
    case S_IFCHR:
      return 3;
    case S_IFBLK:
      return 4;
    case S_IFIFO:
      return 5;
    case S_IFSOCK:
      return 6;
    case S_IFLNK:
      return 7;
    default:
      return 0;
  }
}

export class Inode {
  mode = 0;
  uid = 0;
  gid = 0;
  size = 0;
  atime = 0;
  ctime = 0;
  mtime = 0;
  dtime = 0;
  links = 0;
  /** i_blocks: 512-byte units held, indirect blocks and an xattr block included. */
  blocks = 0;
  flags = 0;
  /** i_block: 15 block pointers, or a fast symlink's target bytes. */
  readonly block = new Array<number>(15).fill(0);
  fileAcl = 0;

  constructor(
    readonly ino: number,
    readonly raw: Uint8Array,
  ) {
    const r = raw;
    this.mode = u16(r, 0);
    this.uid = u16(r, 2) | (u16(r, 120) << 16);
    this.size = u32(r, 4);
    this.atime = u32(r, 8);
    this.ctime = u32(r, 12);
    this.mtime = u32(r, 16);
    this.dtime = u32(r, 20);
    this.gid = u16(r, 24) | (u16(r, 122) << 16);
    this.links = u16(r, 26);
    this.blocks = u32(r, 28);
    this.flags = u32(r, 32);
    for (let i = 0; i < 15; i++) this.block[i] = u32(r, 40 + i * 4);
    this.fileAcl = u32(r, 104);
    // i_size_high: the upper 32 bits of a regular file's size (large_file). Directories here stay below 4 GiB.
    if (this.isFile) this.size += u32(r, 108) * 2 ** 32;
  }

  get type(): number {
    return this.mode & S_IFMT;
  }
  get isDir(): boolean {
    return this.type === S_IFDIR;
  }
  get isFile(): boolean {
    return this.type === S_IFREG;
  }
  get isSymlink(): boolean {
    return this.type === S_IFLNK;
  }

  /**
   * A fast symlink keeps its target in i_block itself: as e2fsck decides it, a symlink whose target
   * is shorter than the 60 bytes of i_block.
   */
  get isFastSymlink(): boolean {
    return this.isSymlink && this.size > 0 && this.size < 60;
  }

  /** The inode's bytes with every field brought up to date. */
  serialize(): Uint8Array {
    const r = this.raw;
    put16(r, 0, this.mode);
    put16(r, 2, this.uid & 0xffff);
    put16(r, 120, this.uid >>> 16);
    put32(r, 4, this.size % 2 ** 32);
    put32(r, 8, this.atime);
    put32(r, 12, this.ctime);
    put32(r, 16, this.mtime);
    put32(r, 20, this.dtime);
    put16(r, 24, this.gid & 0xffff);
    put16(r, 122, this.gid >>> 16);
    put16(r, 26, this.links);
    put32(r, 28, this.blocks);
    put32(r, 32, this.flags);
    for (let i = 0; i < 15; i++) put32(r, 40 + i * 4, this.block[i]!);
    put32(r, 104, this.fileAcl);
    if (this.isFile) put32(r, 108, Math.floor(this.size / 2 ** 32));
    return r;
  }
}

/** Where inode `ino` is: its inode-table block and byte offset in it. */
function locate(vol: Volume, ino: number): { block: number; offset: number } {
  const sb = vol.sb;
  if (!(ino >= 1 && ino <= sb.inodesCount)) throw corrupt(`inode number ${ino} is out of range`);
  const g = Math.floor((ino - 1) / sb.inodesPerGroup);
  const index = (ino - 1) % sb.inodesPerGroup;
  const byte = index * sb.inodeSize;
  return {
    block: vol.groups.descs[g]!.inodeTable + Math.floor(byte / sb.blockSize),
    offset: byte % sb.blockSize,
  };
}

export async function readInode(vol: Volume, ino: number): Promise<Inode> {
  const { block, offset } = locate(vol, ino);
  const buf = await vol.cache.get(block);
  return new Inode(ino, buf.slice(offset, offset + vol.sb.inodeSize));
}

export async function writeInode(vol: Volume, inode: Inode): Promise<void> {
  const { block, offset } = locate(vol, inode.ino);
  const bytes = inode.serialize();
  await vol.cache.modify(block, (buf) => buf.set(bytes, offset));
}

/**
 * A fresh in-memory inode for `ino` (allocated by the caller), as mke2fs writes new ones: all zero,
 * with a large inode's i_extra_isize covering the extra timestamp words (left zero) and crtime.
 */
export function newInode(vol: Volume, ino: number, mode: number, uid: number, gid: number): Inode {
  const raw = new Uint8Array(vol.sb.inodeSize);
  const now = vol.now();
  if (raw.length > 128) {
    put16(raw, 128, Math.min(32, raw.length - 128));
    if (raw.length >= 152) put32(raw, 144, now); // i_crtime
  }
  const inode = new Inode(ino, raw);
  inode.mode = mode;
  inode.uid = uid;
  inode.gid = gid;
  inode.atime = inode.ctime = inode.mtime = now;
  inode.links = 1;
  return inode;
}
