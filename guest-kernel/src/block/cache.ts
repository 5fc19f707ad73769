/**
 * The buffer cache: fixed-size blocks of a BlockDevice kept in memory, as Unix's bio.c keeps disk
 * blocks. A filesystem reads and changes its metadata here rather than on the device:
 *
 *   - reads are shared: two callers asking for the same uncached block wait on one device read, and
 *     a run of uncached contiguous blocks (a file's data, an inode table) is one device read;
 *   - writes are delayed (write-back): a changed block is only marked dirty; sync() writes the dirty
 *     blocks in ascending order, adjacent ones coalesced into one device write, then flushes the
 *     device. Enough dirty blocks (half the capacity) are written back early, the same way, so memory
 *     stays bounded while a large file is written;
 *   - memory is bounded: at most `capacity` blocks are kept (plus the dirty ones while they are being
 *     written, and one coalescing buffer of at most `maxIoBytes`). The least recently used clean block
 *     goes first. A guest may have 8-16 MiB in all, so the cache is sized in blocks by its user.
 *
 * Rules for callers (the filesystem follows them): a buffer returned by get() may be read until the
 * caller's next await, and kept after that only as a snapshot. A change is made with modify() (or
 * put()/zero() for a whole block), whose callback runs synchronously on the cached buffer, so no
 * change can land on a buffer the cache has already let go of. Changes must be serialised by the
 * caller (the filesystem's write lock); reads may run concurrently with each other.
 */
import { SECTOR_SIZE, type BlockDevice } from "./device.ts";

interface Entry {
  buf: Uint8Array;
  dirty: boolean;
  /** Bumped on every change: a write-back marks the block clean only if nothing changed it meanwhile. */
  gen: number;
}

export interface BlockCacheStats {
  hits: number;
  misses: number;
  /** Device requests, not blocks. */
  deviceReads: number;
  deviceWrites: number;
}

export class BlockCache {
  /** Map iteration order is insertion order: re-inserting on use keeps the LRU block first. */
  private readonly entries = new Map<number, Entry>();
  /** Blocks being read from the device, each resolving to the block's cached buffer. */
  private readonly pending = new Map<number, Promise<Uint8Array>>();
  private dirtyCount = 0;
  private writing?: Promise<void>;
  private readonly sectorsPerBlock: number;
  /** Most blocks per device read (a run longer than half the cache would evict itself) and write. */
  private readonly maxReadRun: number;
  private readonly maxWriteRun: number;
  /** Blocks the device holds, whole ones only. */
  readonly blockCount: number;
  readonly stats: BlockCacheStats = { hits: 0, misses: 0, deviceReads: 0, deviceWrites: 0 };

  constructor(
    readonly dev: BlockDevice,
    readonly blockSize: number,
    readonly capacity: number,
    maxIoBytes = 256 * 1024,
  ) {
    if (blockSize % SECTOR_SIZE !== 0 || blockSize % dev.sectorSize !== 0 || blockSize <= 0)
      throw new RangeError(
        `block size ${blockSize} is not a multiple of ${dev.name}'s ${dev.sectorSize}-byte sectors`,
      );
    if (!(capacity >= 8))
      throw new RangeError(`a block cache needs room for at least 8 blocks, not ${capacity}`);
    this.sectorsPerBlock = blockSize / SECTOR_SIZE;
    this.blockCount = Math.floor(dev.sectors / this.sectorsPerBlock);
    this.maxWriteRun = Math.max(1, Math.floor(maxIoBytes / blockSize));
    this.maxReadRun = Math.max(1, Math.min(this.maxWriteRun, Math.floor(capacity / 2)));
  }

  /** Blocks held now, and how many of them are dirty. */
  get size(): { blocks: number; dirty: number } {
    return { blocks: this.entries.size, dirty: this.dirtyCount };
  }

  /** Block `block`'s contents (see the rules above: read it before the next await). */
  async get(block: number): Promise<Uint8Array> {
    return (await this.getRun(block, 1))[0]!;
  }

  /**
   * Blocks `first`..`first + count - 1`. Cached ones come from memory; each run of uncached ones is
   * read with one device request (split only at `maxIoBytes`).
   */
  async getRun(first: number, count: number): Promise<Uint8Array[]> {
    this.checkRange(first, count);
    const out = new Array<Uint8Array>(count);
    const waits: Promise<unknown>[] = [];
    let runStart = -1;
    const endRun = (end: number) => {
      if (runStart >= 0) waits.push(this.readRun(first + runStart, end - runStart, out, runStart));
      runStart = -1;
    };
    for (let i = 0; i < count; i++) {
      const b = first + i;
      const e = this.entries.get(b);
      if (e) {
        endRun(i);
        this.stats.hits++;
        this.entries.delete(b);
        this.entries.set(b, e);
        out[i] = e.buf;
        continue;
      }
      const p = this.pending.get(b);
      if (p) {
        endRun(i);
        waits.push(p.then((buf) => (out[i] = buf)));
        continue;
      }
      if (runStart < 0) runStart = i;
      else if (i - runStart === this.maxReadRun) {
        endRun(i);
        runStart = i;
      }
    }
    endRun(count);
    if (waits.length > 0) await Promise.all(waits);
    return out;
  }

  /** Reads `count` uncached blocks from `first` in one request into `out[at...]`. */
  private readRun(first: number, count: number, out: Uint8Array[], at: number): Promise<void> {
    this.stats.misses += count;
    this.stats.deviceReads++;
    const data = new Uint8Array(count * this.blockSize);
    const io = this.dev.read(first * this.sectorsPerBlock, data);
    const done = io.then(() => {
      for (let i = 0; i < count; i++) {
        const b = first + i;
        this.pending.delete(b);
        // A put() while the read was in flight wins: its data is newer than the device's.
        const existing = this.entries.get(b);
        const buf = existing ? existing.buf : data.subarray(i * this.blockSize, (i + 1) * this.blockSize);
        if (!existing) this.entries.set(b, { buf, dirty: false, gen: 0 });
        out[at + i] = buf;
      }
      this.evictClean();
    });
    for (let i = 0; i < count; i++) {
      const waiter = done.then(() => out[at + i]!);
      waiter.catch(() => {}); // its failure is reported to whoever awaits it, not as unhandled
      this.pending.set(first + i, waiter);
    }
    // A failed read leaves nothing behind: the next get() asks the device again.
    return done.catch((e: unknown) => {
      for (let i = 0; i < count; i++) this.pending.delete(first + i);
      throw e;
    });
  }

  /**
   * Changes block `block` in place: `change` runs synchronously on the cached buffer (read from the
   * device first if need be), then the block is dirty. Returns what `change` returned.
   */
  async modify<T>(block: number, change: (buf: Uint8Array) => T): Promise<T> {
    await this.get(block);
    // get() may have resolved with a buffer that was evicted by the time we run; fetch the live one.
    let e = this.entries.get(block);
    if (!e) {
      const buf = await this.get(block);
      e = this.entries.get(block) ?? this.install(block, buf);
    }
    const r = change(e.buf);
    this.markDirty(block, e);
    await this.writeBackIfFull();
    return r;
  }

  /** Replaces block `block` with a copy of `data` (exactly one block) without reading it first. */
  async put(block: number, data: Uint8Array): Promise<void> {
    this.checkRange(block, 1);
    if (data.length !== this.blockSize) throw new RangeError(`put of ${data.length} bytes, not one block`);
    const e = this.entries.get(block);
    if (e) e.buf.set(data);
    this.markDirty(block, e ?? this.install(block, data.slice()));
    await this.writeBackIfFull();
  }

  /** Makes block `block` all zeros without reading it (a newly allocated block). */
  zero(block: number): Promise<void> {
    return this.put(block, new Uint8Array(this.blockSize));
  }

  private install(block: number, buf: Uint8Array): Entry {
    const e: Entry = { buf, dirty: false, gen: 0 };
    this.entries.set(block, e);
    return e;
  }

  private markDirty(block: number, e: Entry): void {
    e.gen++;
    if (!e.dirty) {
      e.dirty = true;
      this.dirtyCount++;
    }
    this.entries.delete(block);
    this.entries.set(block, e);
  }

  /** Drops least recently used clean blocks until at most `capacity` are held. */
  private evictClean(): void {
    if (this.entries.size <= this.capacity) return;
    for (const [b, e] of this.entries) {
      if (this.entries.size <= this.capacity) break;
      if (!e.dirty) this.entries.delete(b);
    }
  }

  private async writeBackIfFull(): Promise<void> {
    if (this.dirtyCount > this.capacity / 2) await this.writeBack();
    this.evictClean();
  }

  /**
   * Writes every dirty block, in ascending order, adjacent ones as one request. Only one write-back
   * runs at a time; a caller arriving meanwhile waits for it and then writes what is still dirty.
   */
  async writeBack(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.dirtyCount === 0) return;
    const run = this.writeDirty();
    this.writing = run;
    try {
      await run;
    } finally {
      this.writing = undefined;
    }
  }

  private async writeDirty(): Promise<void> {
    const dirty: number[] = [];
    for (const [b, e] of this.entries) if (e.dirty) dirty.push(b);
    dirty.sort((a, b) => a - b);
    for (let i = 0; i < dirty.length;) {
      let n = 1;
      while (i + n < dirty.length && dirty[i + n] === dirty[i] + n && n < this.maxWriteRun) n++;
      const blocks = dirty.slice(i, i + n);
      i += n;
      // Snapshot the blocks: the device must see one consistent image of each, and the cache's
      // buffers may change again (a later modify) while the request is out.
      const data = new Uint8Array(blocks.length * this.blockSize);
      const snap = blocks.map((b, k) => {
        const e = this.entries.get(b)!;
        data.set(e.buf, k * this.blockSize);
        return { e, gen: e.gen };
      });
      this.stats.deviceWrites++;
      await this.dev.write(blocks[0]! * this.sectorsPerBlock, data);
      // Clean only if it is still the same entry (not forgotten and reallocated) and unchanged since.
      blocks.forEach((b, k) => {
        const { e, gen } = snap[k]!;
        if (this.entries.get(b) === e && e.dirty && e.gen === gen) {
          e.dirty = false;
          this.dirtyCount--;
        }
      });
    }
  }

  /** Writes every dirty block and then flushes the device: everything changed so far is durable. */
  async sync(): Promise<void> {
    await this.writeBack();
    await this.dev.flush();
    this.evictClean();
  }

  /**
   * Forgets cached blocks `first`..`first + count - 1` without writing them (they were freed: their
   * contents no longer matter). Keeps the cache from writing back blocks nobody owns.
   */
  forget(first: number, count = 1): void {
    for (let b = first; b < first + count; b++) {
      const e = this.entries.get(b);
      if (!e) continue;
      if (e.dirty) this.dirtyCount--;
      this.entries.delete(b);
    }
  }

  private checkRange(first: number, count: number): void {
    if (!Number.isSafeInteger(first) || first < 0 || !(count >= 1) || first + count > this.blockCount)
      throw new RangeError(
        `${this.dev.name}: blocks ${first}..${first + count - 1} are outside the device (${this.blockCount} blocks)`,
      );
  }
}
