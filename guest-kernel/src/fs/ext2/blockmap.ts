/**
 * The block map: which disk block holds logical block n of a file. i_block[0..11] point straight at
 * the first 12 data blocks; i_block[12] at an indirect block of P = blockSize/4 pointers to the next
 * P data blocks; i_block[13] at a double indirect block (P pointers to indirect blocks); i_block[14] at
 * a triple indirect one. A zero pointer is a hole: the range reads as zeros and holds no disk space.
 *
 * Every pointer read from disk is checked to lie inside the filesystem before it is followed, and the
 * tree is at most four levels deep, so a corrupt map ends in EIO, never a loop or a stray write.
 * i_blocks counts, in 512-byte units, every block the file holds, indirect ones included.
 */
import { fsError } from "../errors.ts";
import { put32, u32 } from "./bytes.ts";
import { DIND, IND, N_DIRECT, TIND, type Inode } from "./inode.ts";
import type { Volume } from "./volume.ts";

/** Files are limited to 1 TiB here, well below where i_blocks (32-bit, 512-byte units) would overflow. */
const MAX_FILE_BYTES = 2 ** 40;

/** The largest file size the block map can address on this volume. */
export function maxFileSize(vol: Volume): number {
  const p = vol.pointersPerBlock;
  return Math.min((N_DIRECT + p + p * p + p * p * p) * vol.blockSize, MAX_FILE_BYTES);
}

/** Logical block `lblk` as a slot of i_block and the indices within each level of indirect blocks. */
function pathOf(vol: Volume, lblk: number): { slot: number; idx: number[] } {
  const p = vol.pointersPerBlock;
  if (lblk < N_DIRECT) return { slot: lblk, idx: [] };
  lblk -= N_DIRECT;
  if (lblk < p) return { slot: IND, idx: [lblk] };
  lblk -= p;
  if (lblk < p * p) return { slot: DIND, idx: [Math.floor(lblk / p), lblk % p] };
  lblk -= p * p;
  if (lblk < p * p * p)
    return { slot: TIND, idx: [Math.floor(lblk / (p * p)), Math.floor(lblk / p) % p, lblk % p] };
  throw fsError("EFBIG", `logical block ${lblk} is beyond the triple indirect block`);
}

function checked(vol: Volume, inode: Inode, block: number): number {
  if (block !== 0) vol.groups.checkDataBlock(block, `inode ${inode.ino}'s block map`);
  return block;
}

/** The disk block holding logical block `lblk` of `inode`, or 0 for a hole. */
export async function mapBlock(vol: Volume, inode: Inode, lblk: number): Promise<number> {
  const { slot, idx } = pathOf(vol, lblk);
  let ptr = checked(vol, inode, inode.block[slot]!);
  for (const i of idx) {
    if (ptr === 0) return 0;
    ptr = checked(vol, inode, u32(await vol.cache.get(ptr), i * 4));
  }
  return ptr;
}

/** The disk blocks of logical blocks first..first+count-1 (0 for holes). */
export async function mapRange(vol: Volume, inode: Inode, first: number, count: number): Promise<number[]> {
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = await mapBlock(vol, inode, first + i);
  return out;
}

/**
 * The disk block for logical block `lblk`, allocating it (and any missing indirect blocks, zeroed)
 * near `goal`. `fresh` says the data block was just allocated: its contents are undefined until the
 * caller writes or zeroes it. The caller writes the inode afterwards (i_block and i_blocks changed).
 */
export async function ensureBlock(
  vol: Volume,
  inode: Inode,
  lblk: number,
  goal: number,
): Promise<{ block: number; fresh: boolean }> {
  const { slot, idx } = pathOf(vol, lblk);
  const sectors = vol.blockSize / 512;
  const alloc = async (zero: boolean) => {
    const b = await vol.groups.allocBlock(goal);
    goal = b + 1;
    inode.blocks += sectors;
    if (zero) await vol.cache.zero(b);
    return b;
  };
  let fresh = false;
  let ptr = checked(vol, inode, inode.block[slot]!);
  if (ptr === 0) {
    ptr = await alloc(idx.length > 0);
    inode.block[slot] = ptr;
    fresh = idx.length === 0;
  }
  for (let level = 0; level < idx.length; level++) {
    const at = idx[level]! * 4;
    const parent = ptr;
    ptr = checked(vol, inode, u32(await vol.cache.get(parent), at));
    if (ptr === 0) {
      const leaf = level === idx.length - 1;
      ptr = await alloc(!leaf);
      const child = ptr;
      await vol.cache.modify(parent, (buf) => put32(buf, at, child));
      fresh = leaf;
    }
  }
  return { block: ptr, fresh };
}

/** A goal for allocating logical block `lblk`: right after the block before it, else the inode's group. */
export async function goalFor(vol: Volume, inode: Inode, lblk: number): Promise<number> {
  if (lblk > 0) {
    const prev = await mapBlock(vol, inode, lblk - 1);
    if (prev !== 0) return prev + 1;
  }
  const g = Math.floor((inode.ino - 1) / vol.sb.inodesPerGroup);
  return vol.groups.groupFirstBlock(g);
}

/**
 * Frees every block of `inode` from logical block `first` on, indirect blocks that no longer point
 * at anything included, and clears their pointers. The caller writes the inode afterwards.
 */
export async function freeBlocksFrom(vol: Volume, inode: Inode, first: number): Promise<void> {
  const p = vol.pointersPerBlock;
  for (let i = first; i < N_DIRECT; i++) {
    if (inode.block[i] !== 0) await release(vol, inode, checked(vol, inode, inode.block[i]!));
    inode.block[i] = 0;
  }
  let start = N_DIRECT;
  for (let level = 1, slot = IND; slot <= TIND; level++, slot++) {
    const span = p ** level;
    const root = checked(vol, inode, inode.block[slot]!);
    if (root !== 0 && first < start + span) {
      const from = Math.max(0, first - start);
      if (await truncateTree(vol, inode, root, level, from)) {
        await release(vol, inode, root);
        inode.block[slot] = 0;
      }
    }
    start += span;
  }
}

async function release(vol: Volume, inode: Inode, block: number): Promise<void> {
  await vol.groups.freeBlock(block);
  inode.blocks = Math.max(0, inode.blocks - vol.blockSize / 512);
}

/**
 * Frees what the indirect block `block` (at `level`: 1 points at data) maps from offset `from` (in
 * data blocks below it) on. Returns true if nothing is left under it, so the caller frees it too.
 */
async function truncateTree(
  vol: Volume,
  inode: Inode,
  block: number,
  level: number,
  from: number,
): Promise<boolean> {
  const p = vol.pointersPerBlock;
  const childSpan = p ** (level - 1);
  const firstIdx = Math.floor(from / childSpan);
  // A snapshot: freeing blocks below may evict this one from the cache.
  const ptrs = (await vol.cache.get(block)).slice();
  const cleared: number[] = [];
  for (let i = firstIdx; i < p; i++) {
    const child = checked(vol, inode, u32(ptrs, i * 4));
    if (child === 0) continue;
    const partial = i === firstIdx && from % childSpan !== 0;
    const empty =
      level === 1 || (await truncateTree(vol, inode, child, level - 1, partial ? from % childSpan : 0));
    if (empty) {
      await release(vol, inode, child);
      cleared.push(i);
      put32(ptrs, i * 4, 0);
    }
  }
  let left = false;
  for (let i = 0; i < p && !left; i++) left = u32(ptrs, i * 4) !== 0;
  if (left && cleared.length > 0)
    await vol.cache.modify(block, (buf) => {
      for (const i of cleared) put32(buf, i * 4, 0);
    });
  return !left;
}
