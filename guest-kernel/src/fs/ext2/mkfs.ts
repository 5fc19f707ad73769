/**
 * mkfs: formats a block device as ext2 revision 1 with sparse_super, large_file and filetype (as
 * `mkfs.ext2 -O ^resize_inode,^dir_index,^ext_attr` would; those three are left out: no online
 * resize, no htree, no xattrs are made here, and ext2 is valid without them).
 *
 * Layout, group g of `8 × blockSize` blocks starting at firstDataBlock + g × blocksPerGroup:
 *
 *   [superblock copy + GDT copy, only in groups 0, 1 and powers of 3, 5, 7 (sparse_super)]
 *   block bitmap | inode bitmap | inode table | data...
 *
 * then the root directory (inode 2) and lost+found (inode 11; e2fsck wants it and wants it to have
 * room, so it gets blocks for 16 KiB of entries up front). Inodes 1-10 are reserved and zero.
 */
import { SECTOR_SIZE, type BlockDevice } from "../../block/device.ts";
import { fsError, withContext } from "../errors.ts";
import { put16, put32, putString } from "./bytes.ts";
import { DESC_SIZE } from "./groups.ts";
import {
  EXT2_MAGIC,
  INCOMPAT,
  RO_COMPAT,
  STATE_VALID,
  SUPERBLOCK_OFFSET,
  SUPERBLOCK_SIZE,
} from "./superblock.ts";

export interface MkfsOptions {
  /** Seconds since the epoch. */
  now: () => number;
  /** Fills a buffer with random bytes (the UUID and the directory hash seed). */
  random: (buf: Uint8Array) => void;
  /** 1024, 2048 or 4096; default as mke2fs: 1024 below 512 MiB, else 4096. */
  blockSize?: number;
  /** Inodes wanted (rounded up to fill whole inode-table blocks); default from bytesPerInode. */
  inodeCount?: number;
  /** One inode per this many bytes; default as mke2fs: 8192 below 3 MiB, 4096 below 512 MiB, else 16384. */
  bytesPerInode?: number;
  /** 128 or 256 (default). */
  inodeSize?: number;
  /** Volume label, at most 16 bytes. */
  label?: string;
  /** Percent of blocks reserved for root (default 5). */
  reservedPercent?: number;
  /** The device already reads as zeros (a new sparse file): skip zeroing the inode tables. */
  zeroed?: boolean;
}

export interface MkfsResult {
  blockSize: number;
  blocks: number;
  inodes: number;
  groups: number;
  uuid: string;
}

const MiB = 1024 * 1024;

function hasSuper(g: number): boolean {
  if (g <= 1) return true;
  for (const base of [3, 5, 7]) {
    let p = base;
    while (p < g) p *= base;
    if (p === g) return true;
  }
  return false;
}

export async function mkfsExt2(dev: BlockDevice, opts: MkfsOptions): Promise<MkfsResult> {
  try {
    return await format(dev, opts);
  } catch (e) {
    throw withContext(e, "mkfs", dev.name);
  }
}

async function format(dev: BlockDevice, opts: MkfsOptions): Promise<MkfsResult> {
  if (dev.readonly) throw fsError("EROFS", `${dev.name} is read-only`);
  const bytes = dev.sectors * SECTOR_SIZE;
  const bs = opts.blockSize ?? (bytes < 512 * MiB ? 1024 : 4096);
  if (![1024, 2048, 4096].includes(bs)) throw fsError("EINVAL", `block size ${bs} (1024, 2048 or 4096)`);
  if (bs < dev.sectorSize)
    throw fsError("EINVAL", `block size ${bs} is below ${dev.name}'s ${dev.sectorSize}-byte sectors`);
  const inodeSize = opts.inodeSize ?? 256;
  if (inodeSize !== 128 && inodeSize !== 256) throw fsError("EINVAL", `inode size ${inodeSize} (128 or 256)`);
  const label = opts.label ?? "";
  if (new TextEncoder().encode(label).length > 16)
    throw fsError("EINVAL", `label "${label}" is longer than 16 bytes`);

  const firstData = bs === 1024 ? 1 : 0;
  const bpg = bs * 8;
  let blocks = Math.min(Math.floor(bytes / bs), 2 ** 32 - 1);
  let groups = Math.ceil((blocks - firstData) / bpg);
  const gdtBlocks = () => Math.ceil((groups * DESC_SIZE) / bs);
  const bytesPerInode = opts.bytesPerInode ?? (bytes < 3 * MiB ? 8192 : bytes < 512 * MiB ? 4096 : 16384);
  const perItable = bs / inodeSize;
  const ipgFor = (wanted: number) => {
    let ipg = Math.max(Math.ceil(wanted / groups), 16);
    ipg = Math.ceil(ipg / perItable) * perItable; // whole inode-table blocks
    ipg = Math.ceil(ipg / 8) * 8; // whole bitmap bytes
    return Math.min(ipg, bpg);
  };
  const wantedInodes = () => opts.inodeCount ?? Math.floor((blocks * bs) / bytesPerInode);
  let ipg = ipgFor(wantedInodes());
  const overhead = (g: number) => (hasSuper(g) ? 1 + gdtBlocks() : 0) + 2 + (ipg * inodeSize) / bs;
  // A last group too small to hold its own metadata and some data is dropped (as mke2fs does).
  const lastSize = blocks - firstData - (groups - 1) * bpg;
  if (groups > 1 && lastSize < overhead(groups - 1) + 50) {
    groups--;
    blocks = firstData + groups * bpg;
    ipg = ipgFor(wantedInodes());
  }
  const itable = (ipg * inodeSize) / bs;
  const lpfBlocks = Math.min(12, Math.max(2, Math.ceil((16 * 1024) / bs)));
  if (blocks - firstData < overhead(0) + 1 + lpfBlocks + 16)
    throw fsError("ENOSPC", `${dev.name} (${bytes} bytes) is too small for an ext2 filesystem`);
  const inodes = ipg * groups;
  const now = opts.now();
  const uuid = new Uint8Array(16);
  opts.random(uuid);
  uuid[6] = (uuid[6]! & 0x0f) | 0x40; // a version 4 (random) UUID
  uuid[8] = (uuid[8]! & 0x3f) | 0x80;
  const hashSeed = new Uint8Array(16);
  opts.random(hashSeed);

  const write = (block: number, data: Uint8Array) => dev.write((block * bs) / SECTOR_SIZE, data);

  // Each group's metadata, and the bitmaps with metadata (and the padding past the end) marked used.
  const descs = new Uint8Array(gdtBlocks() * bs);
  let freeBlocksTotal = 0;
  let rootBlock = 0;
  const lpf: number[] = [];
  for (let g = 0; g < groups; g++) {
    const start = firstData + g * bpg;
    const size = Math.min(bpg, blocks - start);
    let next = start + (hasSuper(g) ? 1 + gdtBlocks() : 0);
    const blockBitmap = next++;
    const inodeBitmap = next++;
    const inodeTable = next;
    next += itable;
    const bbits = new Uint8Array(bs);
    const setBit = (bits: Uint8Array, i: number) => (bits[i >> 3]! |= 1 << (i & 7));
    for (let b = start; b < next; b++) setBit(bbits, b - start);
    if (g === 0) {
      rootBlock = next++;
      setBit(bbits, rootBlock - start);
      for (let i = 0; i < lpfBlocks; i++) {
        lpf.push(next);
        setBit(bbits, next++ - start);
      }
    }
    for (let i = size; i < bs * 8; i++) setBit(bbits, i);
    const ibits = new Uint8Array(bs);
    if (g === 0) for (let i = 0; i < 11; i++) setBit(ibits, i); // inodes 1-10 reserved, 11 lost+found
    for (let i = ipg; i < bs * 8; i++) setBit(ibits, i);
    const freeBlocks = size - (next - start);
    freeBlocksTotal += freeBlocks;
    const d = g * DESC_SIZE;
    put32(descs, d, blockBitmap);
    put32(descs, d + 4, inodeBitmap);
    put32(descs, d + 8, inodeTable);
    put16(descs, d + 12, freeBlocks);
    put16(descs, d + 14, g === 0 ? ipg - 11 : ipg);
    put16(descs, d + 16, g === 0 ? 2 : 0);
    await write(blockBitmap, bbits);
    await write(inodeBitmap, ibits);
    if (!opts.zeroed) await zeroBlocks(write, inodeTable, itable, bs);
  }

  // The superblock, then its copies with their own group number, each followed by the GDT.
  const sb = new Uint8Array(SUPERBLOCK_SIZE);
  put32(sb, 0, inodes);
  put32(sb, 4, blocks);
  put32(sb, 8, Math.floor((blocks * (opts.reservedPercent ?? 5)) / 100));
  put32(sb, 12, freeBlocksTotal);
  put32(sb, 16, inodes - 11);
  put32(sb, 20, firstData);
  put32(sb, 24, Math.log2(bs) - 10); // s_log_block_size
  put32(sb, 28, Math.log2(bs) - 10); // s_log_frag_size
  put32(sb, 32, bpg);
  put32(sb, 36, bpg); // s_frags_per_group
  put32(sb, 40, ipg);
  put32(sb, 48, now); // s_wtime
  put16(sb, 54, 0xffff); // s_max_mnt_count -1: no forced check by mount count
  put16(sb, 56, EXT2_MAGIC);
  put16(sb, 58, STATE_VALID);
  put16(sb, 60, 1); // s_errors: continue
  put32(sb, 64, now); // s_lastcheck
  put32(sb, 76, 1); // s_rev_level: dynamic
  put32(sb, 84, 11); // s_first_ino
  put16(sb, 88, inodeSize);
  put32(sb, 96, INCOMPAT.filetype);
  put32(sb, 100, RO_COMPAT.sparse_super | RO_COMPAT.large_file);
  sb.set(uuid, 104);
  putString(sb, 120, 16, label);
  sb.set(hashSeed, 236);
  sb[252] = 1; // s_def_hash_version: half_md4, should anyone add an htree later
  put32(sb, 264, now); // s_mkfs_time
  if (inodeSize > 128) {
    put16(sb, 348, 32); // s_min_extra_isize
    put16(sb, 350, 32); // s_want_extra_isize
  }
  for (let g = 0; g < groups; g++) {
    if (!hasSuper(g)) continue;
    const start = firstData + g * bpg;
    put16(sb, 90, g); // s_block_group_nr
    if (g === 0) {
      const head = new Uint8Array(bs === 1024 ? 1024 : bs);
      head.set(sb, bs === 1024 ? 0 : SUPERBLOCK_OFFSET);
      await write(bs === 1024 ? 1 : 0, head);
    } else {
      const block = new Uint8Array(bs);
      block.set(sb);
      await write(start, block);
    }
    await write(start + 1, descs);
  }

  await writeRootAndLostFound(write, bs, inodeSize, now, {
    rootBlock,
    lpf,
    inodeTable: firstData + 1 + gdtBlocks() + 2,
  });
  await dev.flush();
  const hex = [...uuid].map((b) => b.toString(16).padStart(2, "0")).join("");
  return {
    blockSize: bs,
    blocks,
    inodes,
    groups,
    uuid: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
  };
}

async function zeroBlocks(
  write: (block: number, data: Uint8Array) => Promise<void>,
  first: number,
  count: number,
  bs: number,
): Promise<void> {
  const chunk = Math.max(1, Math.floor((256 * 1024) / bs));
  const zeros = new Uint8Array(Math.min(count, chunk) * bs);
  for (let b = 0; b < count; b += chunk) {
    const n = Math.min(chunk, count - b);
    await write(first + b, n * bs === zeros.length ? zeros : zeros.subarray(0, n * bs));
  }
}

/** Inode 2 (/, holding ".", ".." and lost+found) and inode 11 (/lost+found, empty but roomy). */
async function writeRootAndLostFound(
  write: (block: number, data: Uint8Array) => Promise<void>,
  bs: number,
  inodeSize: number,
  now: number,
  at: { rootBlock: number; lpf: number[]; inodeTable: number },
): Promise<void> {
  const entry = (buf: Uint8Array, off: number, ino: number, recLen: number, name: string, type: number) => {
    put32(buf, off, ino);
    put16(buf, off + 4, recLen);
    buf[off + 6] = name.length;
    buf[off + 7] = type;
    putString(buf, off + 8, name.length, name);
  };
  const root = new Uint8Array(bs);
  entry(root, 0, 2, 12, ".", 2);
  entry(root, 12, 2, 12, "..", 2);
  entry(root, 24, 11, bs - 24, "lost+found", 2);
  await write(at.rootBlock, root);
  for (let i = 0; i < at.lpf.length; i++) {
    const buf = new Uint8Array(bs);
    if (i === 0) {
      entry(buf, 0, 11, 12, ".", 2);
      entry(buf, 12, 2, bs - 12, "..", 2);
    } else put16(buf, 4, bs); // an empty block: one unused record spanning it
    await write(at.lpf[i]!, buf);
  }

  const inode = (mode: number, links: number, blocks: number[]) => {
    const r = new Uint8Array(inodeSize);
    put16(r, 0, mode);
    put32(r, 4, blocks.length * bs);
    for (const off of [8, 12, 16]) put32(r, off, now);
    put16(r, 26, links);
    put32(r, 28, (blocks.length * bs) / 512);
    blocks.forEach((b, i) => put32(r, 40 + i * 4, b));
    if (inodeSize > 128) {
      put16(r, 128, 32);
      put32(r, 144, now);
    }
    return r;
  };
  // Inodes 1..16 share the inode table's first block(s); write the ones holding 2 and 11.
  const perBlock = bs / inodeSize;
  const firstBlocks = Math.ceil(11 / perBlock);
  const table = new Uint8Array(firstBlocks * bs);
  table.set(inode(0o040755, 3, [at.rootBlock]), 1 * inodeSize);
  table.set(inode(0o040700, 2, at.lpf), 10 * inodeSize);
  await write(at.inodeTable, table);
}
