/**
 * The ext2 superblock: 1024 bytes at byte offset 1024 of the device, describing the whole filesystem
 * (sizes, counts, features). Backup copies sit at the start of some block groups; like Linux's ext2,
 * this filesystem only ever rewrites the primary (e2fsck compares only the fields that never change).
 *
 * Features come in three sets. A `compat` feature an implementation does not know can be ignored; an
 * unknown `ro_compat` one means the data may be read but not written; an unknown `incompat` one means
 * the filesystem cannot even be read safely.
 */
import { corrupt, fsError } from "../errors.ts";
import { getString, put16, put32, putString, u16, u32 } from "./bytes.ts";

export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
export const EXT2_MAGIC = 0xef53;

/** s_state bits: VALID is set while unmounted cleanly, cleared while mounted read-write. */
export const STATE_VALID = 1;
export const STATE_ERROR = 2;

export const COMPAT = {
  dir_prealloc: 0x1,
  imagic_inodes: 0x2,
  has_journal: 0x4,
  ext_attr: 0x8,
  resize_inode: 0x10,
  dir_index: 0x20,
  sparse_super2: 0x200,
} as const;

export const RO_COMPAT = {
  sparse_super: 0x1,
  large_file: 0x2,
  btree_dir: 0x4,
  huge_file: 0x8,
  gdt_csum: 0x10,
  dir_nlink: 0x20,
  extra_isize: 0x40,
  quota: 0x100,
  bigalloc: 0x200,
  metadata_csum: 0x400,
  readonly: 0x1000,
  project: 0x2000,
  verity: 0x8000,
  orphan_present: 0x10000,
} as const;

export const INCOMPAT = {
  compression: 0x1,
  filetype: 0x2,
  recover: 0x4,
  journal_dev: 0x8,
  meta_bg: 0x10,
  extent: 0x40,
  "64bit": 0x80,
  mmp: 0x100,
  flex_bg: 0x200,
  ea_inode: 0x400,
  dirdata: 0x1000,
  csum_seed: 0x2000,
  largedir: 0x4000,
  inline_data: 0x8000,
  encrypt: 0x10000,
  casefold: 0x20000,
} as const;

/** What this implementation reads and writes correctly. */
export const SUPPORTED_INCOMPAT = INCOMPAT.filetype;
export const SUPPORTED_RO_COMPAT = RO_COMPAT.sparse_super | RO_COMPAT.large_file;

/** The names of the bits of `mask` that are set, from `table` (hex for unnamed ones). */
export function featureNames(mask: number, table: Record<string, number>): string[] {
  const names: string[] = [];
  for (let bit = 1; bit !== 0 && bit <= mask; bit = (bit << 1) >>> 0) {
    if (!(mask & bit)) continue;
    const name = Object.entries(table).find(([, v]) => v === bit)?.[0];
    names.push(name ?? `0x${bit.toString(16)}`);
  }
  return names;
}

/** The superblock's fields this filesystem uses; the raw bytes keep every other field as found. */
export class Superblock {
  inodesCount = 0;
  blocksCount = 0;
  reservedBlocks = 0;
  freeBlocks = 0;
  freeInodes = 0;
  firstDataBlock = 0;
  logBlockSize = 0;
  blocksPerGroup = 0;
  inodesPerGroup = 0;
  mtime = 0;
  wtime = 0;
  mountCount = 0;
  magic = 0;
  state = 0;
  revLevel = 0;
  firstIno = 11;
  inodeSize = 128;
  compat = 0;
  incompat = 0;
  roCompat = 0;
  reservedGdtBlocks = 0;
  descSize = 0;

  private constructor(readonly raw: Uint8Array) {}

  /** Parses and checks the superblock's 1024 bytes; throws EINVAL (not ext2) or EIO (corrupt). */
  static parse(bytes: Uint8Array): Superblock {
    const sb = new Superblock(bytes.slice(0, SUPERBLOCK_SIZE));
    const r = sb.raw;
    sb.inodesCount = u32(r, 0);
    sb.blocksCount = u32(r, 4);
    sb.reservedBlocks = u32(r, 8);
    sb.freeBlocks = u32(r, 12);
    sb.freeInodes = u32(r, 16);
    sb.firstDataBlock = u32(r, 20);
    sb.logBlockSize = u32(r, 24);
    sb.blocksPerGroup = u32(r, 32);
    sb.inodesPerGroup = u32(r, 40);
    sb.mtime = u32(r, 44);
    sb.wtime = u32(r, 48);
    sb.mountCount = u16(r, 52);
    sb.magic = u16(r, 56);
    sb.state = u16(r, 58);
    sb.revLevel = u32(r, 76);
    if (sb.magic !== EXT2_MAGIC)
      throw fsError("EINVAL", `no ext2 superblock (magic 0x${sb.magic.toString(16)}, not 0xef53)`);
    if (sb.revLevel > 1)
      throw fsError("EINVAL", `ext2 revision ${sb.revLevel} is not supported (0 and 1 are)`);
    if (sb.revLevel === 1) {
      sb.firstIno = u32(r, 84);
      sb.inodeSize = u16(r, 88);
      sb.compat = u32(r, 92);
      sb.incompat = u32(r, 96);
      sb.roCompat = u32(r, 100);
      sb.reservedGdtBlocks = u16(r, 206);
      sb.descSize = u16(r, 254);
    }
    sb.check();
    return sb;
  }

  get blockSize(): number {
    return 1024 << this.logBlockSize;
  }

  get groupCount(): number {
    return Math.ceil((this.blocksCount - this.firstDataBlock) / this.blocksPerGroup);
  }

  get volumeName(): string {
    return getString(this.raw, 120, 16);
  }

  get uuid(): Uint8Array {
    return this.raw.slice(104, 120);
  }

  has(kind: "compat" | "incompat" | "roCompat", bit: number): boolean {
    return (this[kind] & bit) !== 0;
  }

  /** Geometry that, if wrong, would make every later computation (and write) land somewhere else. */
  private check(): void {
    const bad = (why: string) => {
      throw corrupt(`superblock: ${why}`);
    };
    if (this.logBlockSize > 6) bad(`block size 2^(10+${this.logBlockSize}) is beyond 64 KiB`);
    const bs = this.blockSize;
    if (this.firstDataBlock !== (bs === 1024 ? 1 : 0))
      bad(`first data block ${this.firstDataBlock} with ${bs}-byte blocks`);
    if (this.blocksPerGroup === 0 || this.blocksPerGroup > bs * 8)
      bad(`${this.blocksPerGroup} blocks per group (a bitmap block holds ${bs * 8})`);
    if (this.inodesPerGroup === 0 || this.inodesPerGroup > bs * 8)
      bad(`${this.inodesPerGroup} inodes per group (a bitmap block holds ${bs * 8})`);
    if (this.blocksCount <= this.firstDataBlock) bad(`${this.blocksCount} blocks`);
    if (this.inodesCount !== this.inodesPerGroup * this.groupCount)
      bad(`${this.inodesCount} inodes is not ${this.inodesPerGroup} per group × ${this.groupCount} groups`);
    const is = this.inodeSize;
    if (is < 128 || is > bs || (is & (is - 1)) !== 0) bad(`inode size ${is}`);
    if (this.firstIno < 11 || this.firstIno >= this.inodesCount) bad(`first inode ${this.firstIno}`);
    if (this.freeBlocks > this.blocksCount || this.freeInodes > this.inodesCount)
      bad("free counts exceed totals");
    if (this.reservedBlocks > this.blocksCount) bad(`${this.reservedBlocks} reserved blocks`);
  }

  /** Why this filesystem cannot be mounted at all (an incompat feature we do not implement), if so. */
  unsupportedIncompat(): string[] {
    return featureNames(this.incompat & ~SUPPORTED_INCOMPAT, INCOMPAT);
  }

  /** ro_compat features we do not implement: they allow a read-only mount. */
  unsupportedRoCompat(): string[] {
    return featureNames(this.roCompat & ~SUPPORTED_RO_COMPAT, RO_COMPAT);
  }

  /** The 1024 bytes to write back, with the fields this filesystem changes brought up to date. */
  serialize(): Uint8Array {
    const r = this.raw;
    put32(r, 12, this.freeBlocks);
    put32(r, 16, this.freeInodes);
    put32(r, 44, this.mtime);
    put32(r, 48, this.wtime);
    put16(r, 52, this.mountCount);
    put16(r, 58, this.state);
    if (this.revLevel === 1) put32(r, 100, this.roCompat);
    return r;
  }

  setLastMounted(path: string): void {
    if (this.revLevel === 1) putString(this.raw, 136, 64, path);
  }
}
