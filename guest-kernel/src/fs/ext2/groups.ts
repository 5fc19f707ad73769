/**
 * Block groups and the allocator. ext2 cuts the disk into groups of `blocksPerGroup` blocks; each has
 * a descriptor (in the group descriptor table, GDT, right after the superblock) naming its block
 * bitmap, inode bitmap and inode table, and counting its free blocks, free inodes and directories.
 * A bit set in a bitmap means the block/inode is in use.
 *
 * The descriptors are kept in memory and written back at sync(), as the superblock is; the bitmaps
 * live in the block cache. Every allocation and free changes the bitmap bit, the group's count and
 * the superblock's total together, so e2fsck finds all three agreeing.
 *
 * Policy (after Linux's ext2, simplified): a file's inode goes in its directory's group and its
 * blocks follow the block before them; a new directory goes to a group with more free inodes and
 * blocks than average and the fewest directories, spreading the tree over the disk.
 */
import { corrupt, fsError } from "../errors.ts";
import type { BlockCache } from "../../block/cache.ts";
import { put16, u16, u32 } from "./bytes.ts";
import type { Superblock } from "./superblock.ts";

export const DESC_SIZE = 32;

export interface GroupDesc {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocks: number;
  freeInodes: number;
  usedDirs: number;
  /** The descriptor's 32 bytes as found (flags and checksums of other implementations are kept). */
  raw: Uint8Array;
}

export class GroupTable {
  readonly descs: GroupDesc[] = [];
  /** Blocks in one group's inode table. */
  readonly inodeTableBlocks: number;
  /** The GDT's first block and length. */
  readonly gdtStart: number;
  readonly gdtBlocks: number;
  private dirty = false;

  private constructor(
    private readonly sb: Superblock,
    private readonly cache: BlockCache,
  ) {
    const bs = sb.blockSize;
    this.inodeTableBlocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / bs);
    this.gdtStart = sb.firstDataBlock + 1;
    this.gdtBlocks = Math.ceil((sb.groupCount * DESC_SIZE) / bs);
  }

  /** Reads and checks the descriptor table. */
  static async load(sb: Superblock, cache: BlockCache): Promise<GroupTable> {
    const t = new GroupTable(sb, cache);
    const blocks = await cache.getRun(t.gdtStart, t.gdtBlocks);
    const perBlock = sb.blockSize / DESC_SIZE;
    for (let g = 0; g < sb.groupCount; g++) {
      const block = blocks[Math.floor(g / perBlock)]!;
      const off = (g % perBlock) * DESC_SIZE;
      const raw = block.slice(off, off + DESC_SIZE);
      t.descs.push({
        blockBitmap: u32(raw, 0),
        inodeBitmap: u32(raw, 4),
        inodeTable: u32(raw, 8),
        freeBlocks: u16(raw, 12),
        freeInodes: u16(raw, 14),
        usedDirs: u16(raw, 16),
        raw,
      });
      t.check(g);
    }
    return t;
  }

  private check(g: number): void {
    const d = this.descs[g]!;
    const sb = this.sb;
    const inFs = (b: number) => b >= sb.firstDataBlock && b < sb.blocksCount;
    if (!inFs(d.blockBitmap) || !inFs(d.inodeBitmap) || !inFs(d.inodeTable))
      throw corrupt(`group ${g}: bitmap or inode table outside the filesystem`);
    if (d.inodeTable + this.inodeTableBlocks > sb.blocksCount)
      throw corrupt(`group ${g}: inode table runs past the end of the filesystem`);
    if (d.freeBlocks > this.groupBlocks(g) || d.freeInodes > sb.inodesPerGroup)
      throw corrupt(`group ${g}: free counts exceed the group's size`);
  }

  /** The superblock's totals are the sum of the groups' (as Linux recomputes them at mount). */
  recount(): void {
    this.sb.freeBlocks = this.descs.reduce((n, d) => n + d.freeBlocks, 0);
    this.sb.freeInodes = this.descs.reduce((n, d) => n + d.freeInodes, 0);
  }

  groupFirstBlock(g: number): number {
    return this.sb.firstDataBlock + g * this.sb.blocksPerGroup;
  }

  /** Blocks in group `g` (the last group may be short). */
  groupBlocks(g: number): number {
    return Math.min(this.sb.blocksPerGroup, this.sb.blocksCount - this.groupFirstBlock(g));
  }

  /** Writes the changed descriptors into the cache (the caller syncs the cache). */
  async store(): Promise<void> {
    if (!this.dirty) return;
    const perBlock = this.sb.blockSize / DESC_SIZE;
    for (let i = 0; i < this.gdtBlocks; i++) {
      await this.cache.modify(this.gdtStart + i, (buf) => {
        for (let k = 0; k < perBlock; k++) {
          const d = this.descs[i * perBlock + k];
          if (!d) break;
          put16(d.raw, 12, d.freeBlocks);
          put16(d.raw, 14, d.freeInodes);
          put16(d.raw, 16, d.usedDirs);
          buf.set(d.raw, k * DESC_SIZE);
        }
      });
    }
    this.dirty = false;
  }

  /** Checks that `block` is a block of the filesystem's data area a pointer may name. */
  checkDataBlock(block: number, what: string): void {
    if (block < this.sb.firstDataBlock || block >= this.sb.blocksCount || !Number.isInteger(block))
      throw corrupt(`${what}: block ${block} is outside the filesystem (${this.sb.blocksCount} blocks)`);
  }

  /** True if `block` holds group metadata (superblock/GDT of group 0, a bitmap, an inode table). */
  private isMetadata(block: number): boolean {
    if (block < this.gdtStart + this.gdtBlocks + this.sb.reservedGdtBlocks) return true;
    const d = this.descs[Math.floor((block - this.sb.firstDataBlock) / this.sb.blocksPerGroup)]!;
    return (
      block === d.blockBitmap ||
      block === d.inodeBitmap ||
      (block >= d.inodeTable && block < d.inodeTable + this.inodeTableBlocks)
    );
  }

  /** Allocates a free block, the first one at or after `goal` (wrapping around the disk). */
  async allocBlock(goal: number): Promise<number> {
    if (this.sb.freeBlocks === 0) throw fsError("ENOSPC");
    const sb = this.sb;
    if (!(goal >= sb.firstDataBlock && goal < sb.blocksCount)) goal = sb.firstDataBlock;
    const n = sb.groupCount;
    const g0 = Math.floor((goal - sb.firstDataBlock) / sb.blocksPerGroup);
    for (let k = 0; k <= n; k++) {
      const g = (g0 + k) % n;
      const d = this.descs[g]!;
      if (d.freeBlocks === 0) continue;
      const first = this.groupFirstBlock(g);
      const start = k === 0 ? goal - first : 0;
      const bit = await this.takeBit(d.blockBitmap, start, this.groupBlocks(g));
      if (bit < 0) continue;
      const block = first + bit;
      if (this.isMetadata(block))
        throw corrupt(`group ${g}'s block bitmap says metadata block ${block} is free`);
      d.freeBlocks--;
      sb.freeBlocks--;
      this.dirty = true;
      return block;
    }
    throw corrupt(`the free block counts say ${sb.freeBlocks} are free but every bitmap is full`);
  }

  async freeBlock(block: number): Promise<void> {
    this.checkDataBlock(block, "freeing");
    const sb = this.sb;
    const g = Math.floor((block - sb.firstDataBlock) / sb.blocksPerGroup);
    const d = this.descs[g]!;
    await this.clearBit(d.blockBitmap, block - this.groupFirstBlock(g), `block ${block}`);
    d.freeBlocks++;
    sb.freeBlocks++;
    this.dirty = true;
    this.cache.forget(block);
  }

  /** Allocates an inode for a new file (near its directory) or directory (spread out). */
  async allocInode(parentIno: number, isDir: boolean): Promise<number> {
    const sb = this.sb;
    if (sb.freeInodes === 0) throw fsError("ENOSPC");
    for (const g of isDir ? this.dirGroups() : this.fileGroups(parentIno)) {
      const d = this.descs[g]!;
      if (d.freeInodes === 0) continue;
      // Inodes below s_first_ino are reserved (root, bad blocks, resize, journal...), never handed out.
      const start = g === 0 ? sb.firstIno - 1 : 0;
      if (start >= sb.inodesPerGroup) continue;
      const bit = await this.takeBit(d.inodeBitmap, start, sb.inodesPerGroup, false);
      if (bit < 0) continue;
      d.freeInodes--;
      sb.freeInodes--;
      if (isDir) d.usedDirs++;
      this.dirty = true;
      return g * sb.inodesPerGroup + bit + 1;
    }
    throw fsError("ENOSPC", "no free inode in any group's bitmap");
  }

  async freeInode(ino: number, isDir: boolean): Promise<void> {
    const g = Math.floor((ino - 1) / this.sb.inodesPerGroup);
    const d = this.descs[g]!;
    await this.clearBit(d.inodeBitmap, (ino - 1) % this.sb.inodesPerGroup, `inode ${ino}`);
    d.freeInodes++;
    this.sb.freeInodes++;
    if (isDir && d.usedDirs > 0) d.usedDirs--;
    this.dirty = true;
  }

  /** The parent's group first, then the following ones. */
  private *fileGroups(parentIno: number): Generator<number> {
    const n = this.sb.groupCount;
    const g0 = Math.floor((parentIno - 1) / this.sb.inodesPerGroup) % n;
    for (let k = 0; k < n; k++) yield (g0 + k) % n;
  }

  /** Groups with at least average free inodes and blocks, fewest directories first; then the rest. */
  private *dirGroups(): Generator<number> {
    const n = this.sb.groupCount;
    const avgInodes = this.sb.freeInodes / n;
    const avgBlocks = this.sb.freeBlocks / n;
    let best = -1;
    for (let g = 0; g < n; g++) {
      const d = this.descs[g]!;
      if (d.freeInodes < avgInodes || d.freeBlocks < avgBlocks) continue;
      if (best < 0 || d.usedDirs < this.descs[best]!.usedDirs) best = g;
    }
    if (best >= 0) yield best;
    for (let g = 0; g < n; g++) if (g !== best) yield g;
  }

  /**
   * Finds a clear bit in bitmap block `bitmap` among bits [0, nbits), searching from `start` and
   * wrapping (only if `wrap`), sets it and returns its number; -1 if all are set.
   */
  private takeBit(bitmap: number, start: number, nbits: number, wrap = true): Promise<number> {
    return this.cache.modify(bitmap, (buf) => {
      const bit = findClear(buf, start, nbits);
      const found = bit >= 0 ? bit : wrap && start > 0 ? findClear(buf, 0, start) : -1;
      if (found >= 0) buf[found >> 3]! |= 1 << (found & 7);
      return found;
    });
  }

  private async clearBit(bitmap: number, bit: number, what: string): Promise<void> {
    const wasSet = await this.cache.modify(bitmap, (buf) => {
      const set = (buf[bit >> 3]! & (1 << (bit & 7))) !== 0;
      buf[bit >> 3]! &= ~(1 << (bit & 7));
      return set;
    });
    if (!wasSet) throw corrupt(`${what} is freed but its bitmap says it is already free`);
  }
}

/** The first clear bit of `buf` in [from, to), or -1. Whole 0xff bytes are skipped at once. */
function findClear(buf: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to) {
    if ((i & 7) === 0 && buf[i >> 3] === 0xff) {
      i += 8;
      continue;
    }
    if ((buf[i >> 3]! & (1 << (i & 7))) === 0) return i;
    i++;
  }
  return -1;
}
