/**
 * A mounted ext2 volume's shared state: the device's block cache, the superblock, the group table,
 * the clock and whether writes are allowed. Every other ext2 module takes one of these.
 *
 * Mounting checks the superblock and refuses an image whose incompat features this implementation
 * does not know (reading it could mean misreading it); an unknown ro_compat feature, a read-only
 * device or the caller's wish mounts it read-only. A read-write mount marks the superblock "not
 * clean" and counts the mount, as Linux does, so a crash before unmount() is visible to e2fsck;
 * unmount() writes everything and marks it clean again.
 */
import { BlockCache } from "../../block/cache.ts";
import { SECTOR_SIZE, type BlockDevice } from "../../block/device.ts";
import { fsError, withContext } from "../errors.ts";
import { GroupTable } from "./groups.ts";
import {
  COMPAT,
  INCOMPAT,
  RO_COMPAT,
  STATE_VALID,
  SUPERBLOCK_OFFSET,
  SUPERBLOCK_SIZE,
  Superblock,
} from "./superblock.ts";

export interface MountOptions {
  /** Seconds since the epoch, for timestamps (injected: the fs never reads a clock itself). */
  now: () => number;
  /** Mount read-only even if the device and features allow writing. */
  readonly?: boolean;
  /** Block cache size in bytes (default 1 MiB; at least 8 blocks). */
  cacheBytes?: number;
}

export class Volume {
  readonly blockSize: number;
  /** Block numbers in one indirect block. */
  readonly pointersPerBlock: number;
  /** Why the volume is read-only, or undefined if it is writable. */
  readonly readonlyReason?: string;
  /** Set between a read-write mount and unmount(). */
  private mounted = false;

  private constructor(
    readonly dev: BlockDevice,
    readonly cache: BlockCache,
    readonly sb: Superblock,
    readonly groups: GroupTable,
    readonly now: () => number,
    readonlyReason: string | undefined,
  ) {
    this.blockSize = sb.blockSize;
    this.pointersPerBlock = sb.blockSize / 4;
    this.readonlyReason = readonlyReason;
  }

  get readonly(): boolean {
    return this.readonlyReason !== undefined;
  }

  /** Directory entries carry a file type byte (the filetype feature). */
  get hasFileType(): boolean {
    return this.sb.has("incompat", INCOMPAT.filetype);
  }

  /** Sets the large_file feature once a file reaches 2 GiB (older readers could not read it). */
  noteFileSize(size: number): void {
    if (size >= 2 ** 31 && !this.sb.has("roCompat", RO_COMPAT.large_file))
      this.sb.roCompat |= RO_COMPAT.large_file;
  }

  /** Throws EROFS if the volume may not be written. */
  checkWritable(): void {
    if (this.readonlyReason) throw fsError("EROFS", this.readonlyReason);
  }

  static async mount(dev: BlockDevice, opts: MountOptions): Promise<Volume> {
    try {
      return await Volume.mountUnchecked(dev, opts);
    } catch (e) {
      throw withContext(e, "mount", dev.name);
    }
  }

  private static async mountUnchecked(dev: BlockDevice, opts: MountOptions): Promise<Volume> {
    // The superblock is at byte 1024 whatever the block size; read the first 2 KiB (or one sector).
    const head = new Uint8Array(Math.max(SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE, dev.sectorSize));
    if (dev.sectors * SECTOR_SIZE < head.length) throw fsError("EINVAL", `${dev.name} is too small for ext2`);
    await dev.read(0, head);
    const sb = Superblock.parse(head.subarray(SUPERBLOCK_OFFSET, SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE));
    const refused = sb.unsupportedIncompat();
    if (refused.length > 0)
      throw fsError(
        "EINVAL",
        `${dev.name} has incompatible features this ext2 does not support: ${refused.join(", ")}`,
      );
    const bs = sb.blockSize;
    if (bs < dev.sectorSize)
      throw fsError(
        "EINVAL",
        `block size ${bs} is smaller than ${dev.name}'s ${dev.sectorSize}-byte sectors`,
      );
    const devBlocks = Math.floor((dev.sectors * SECTOR_SIZE) / bs);
    if (sb.blocksCount > devBlocks)
      throw fsError(
        "EINVAL",
        `the filesystem has ${sb.blocksCount} blocks but ${dev.name} holds only ${devBlocks}`,
      );

    const roFeatures = sb.unsupportedRoCompat();
    const reason = opts.readonly
      ? "mounted read-only"
      : dev.readonly
        ? `${dev.name} is read-only`
        : roFeatures.length > 0
          ? `read-only: features this ext2 cannot write: ${roFeatures.join(", ")}`
          : sb.has("compat", COMPAT.has_journal)
            ? "read-only: it has a journal (ext3); writing it without replaying the journal is not done here"
            : undefined;

    const capacity = Math.max(8, Math.floor((opts.cacheBytes ?? 1024 * 1024) / bs));
    const cache = new BlockCache(dev, bs, capacity);
    const groups = await GroupTable.load(sb, cache);
    groups.recount();
    const vol = new Volume(dev, cache, sb, groups, opts.now, reason);
    if (!vol.readonly) await vol.markMounted();
    return vol;
  }

  /** Clears the clean flag and counts the mount, on disk at once. */
  private async markMounted(): Promise<void> {
    this.mounted = true;
    this.sb.mountCount = (this.sb.mountCount + 1) & 0xffff;
    this.sb.mtime = this.now();
    this.sb.state &= ~STATE_VALID;
    this.sb.setLastMounted("/");
    await this.writeSuperblock();
    await this.cache.sync();
  }

  private async writeSuperblock(): Promise<void> {
    this.sb.wtime = this.now();
    const bytes = this.sb.serialize();
    const bs = this.blockSize;
    // With 1 KiB blocks the superblock is block 1; with bigger ones it is bytes 1024.. of block 0.
    const block = Math.floor(SUPERBLOCK_OFFSET / bs);
    await this.cache.modify(block, (buf) => buf.set(bytes, SUPERBLOCK_OFFSET % bs));
  }

  /** Writes the metadata kept in memory and every dirty block, then flushes the device. */
  async sync(): Promise<void> {
    if (this.readonly) return;
    await this.groups.store();
    await this.writeSuperblock();
    await this.cache.sync();
  }

  /** sync(), then marks the filesystem cleanly unmounted. */
  async unmount(): Promise<void> {
    if (this.readonly || !this.mounted) return;
    this.sb.state |= STATE_VALID;
    await this.sync();
    this.mounted = false;
  }
}
