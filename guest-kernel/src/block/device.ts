/**
 * A block device as the kernel's upper layers see it: numbered 512-byte sectors that can be read,
 * written, flushed and discarded. blkfront implements it over the shared ring; tests and the host-side
 * mkfs implement it over a file. Buffers are plain Uint8Arrays whose length is a whole number of
 * sectors; a device never keeps a reference to one after the promise settles.
 */

/** Xen's blkif always counts in 512-byte sectors, whatever the disk's logical sector size. */
export const SECTOR_SIZE = 512;

export interface BlockDeviceInfo {
  /** The guest's name for it: xvda, xvdb, ... */
  readonly name: string;
  /** Size in 512-byte sectors. */
  readonly sectors: number;
  /** The backend's logical sector size in bytes (512 or 4096); I/O should be aligned to it. */
  readonly sectorSize: number;
  /** Writes and discards fail with EROFS. */
  readonly readonly: boolean;
  /** The device has a volatile cache that flush() empties (feature-flush-cache). */
  readonly flushes: boolean;
  /** discard() frees space on the host (feature-discard); without it discard() does nothing. */
  readonly discards: boolean;
}

export interface BlockDevice extends BlockDeviceInfo {
  /** Reads `buf.length / 512` sectors starting at `sector` into `buf`. */
  read(sector: number, buf: Uint8Array): Promise<void>;
  /** Writes `data` (a whole number of sectors) starting at `sector`. */
  write(sector: number, data: Uint8Array): Promise<void>;
  /** Returns once every write that completed before the call is on stable storage. */
  flush(): Promise<void>;
  /** Tells the device that `count` sectors from `sector` hold nothing worth keeping. */
  discard(sector: number, count: number): Promise<void>;
}

/** A disk of the domain as programs get it (`k.blk.get`): a BlockDevice that lends shared memory. */
export interface DiskDevice extends BlockDevice {
  /**
   * A zeroed buffer of `bytes` whose pages are granted to the disk's backend once: read() into it
   * and write() from it move data straight between the host's image file and these bytes, with no
   * copy in the guest (docs/block.md, "Shared buffers"). Its pages stay shared with dom0 for the
   * life of the domain, so keep it for data bound to or from the disk. When the domain has no free
   * run of pages that long, or the disk has lent its limit, it is an ordinary buffer (I/O copies).
   */
  buffer(bytes: number): Uint8Array;
  /**
   * Gives a buffer from buffer() back, for a later buffer() of this disk to reuse (its pages stay
   * shared with dom0 and are never used for anything else). Use the old view no more after this:
   * its bytes may be another buffer's. A buffer that is not one of this disk's lent ones (an
   * ordinary one buffer() fell back to, or any other) is left alone.
   */
  release(buf: Uint8Array): void;
}

/** The error a device operation fails with: `code` as node:fs names it (EIO, EROFS, EINVAL...). */
export class BlockError extends Error {
  constructor(
    readonly code: "EIO" | "EROFS" | "EINVAL" | "EOPNOTSUPP" | "ENODEV",
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "BlockError";
  }
}

/** Checks a request's shape against a device; throws BlockError(EINVAL/EROFS) naming what is wrong. */
export function checkRequest(
  dev: BlockDeviceInfo,
  op: "read" | "write" | "discard",
  sector: number,
  bytes: number,
): void {
  if (!Number.isSafeInteger(sector) || sector < 0)
    throw new BlockError("EINVAL", `${dev.name}: ${op} at sector ${sector}: not a sector number`);
  if (bytes % SECTOR_SIZE !== 0)
    throw new BlockError("EINVAL", `${dev.name}: ${op} of ${bytes} bytes: not a whole number of sectors`);
  const count = bytes / SECTOR_SIZE;
  if (sector + count > dev.sectors)
    throw new BlockError(
      "EINVAL",
      `${dev.name}: ${op} of sectors ${sector}..${sector + count - 1} runs past the end (${dev.sectors} sectors)`,
    );
  if (op !== "read" && dev.readonly) throw new BlockError("EROFS", `${dev.name} is read-only`);
}
