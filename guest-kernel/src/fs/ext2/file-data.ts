/**
 * A file's contents: reading, writing at any offset, and truncating, over the block map. Reads of
 * contiguous disk blocks go to the cache as one run (one device read when uncached); holes read as
 * zeros. Writes allocate blocks as they go, each after the one before it, so a file written in order
 * lands contiguously on disk.
 *
 * One invariant keeps sparse files and growth correct: the bytes of a file's last block past its size
 * are zero. A write into a new block zero-fills the rest of it, a shrinking truncate zeroes the tail it
 * leaves, and growing a file first zeroes the old tail (in case another implementation left bytes there).
 */
import { fsError } from "../errors.ts";
import { ensureBlock, freeBlocksFrom, goalFor, mapBlock, mapRange, maxFileSize } from "./blockmap.ts";
import { writeInode, type Inode } from "./inode.ts";
import type { Volume } from "./volume.ts";

/** Blocks mapped and read per step of a long read: bounds the memory a read pins at once. */
const READ_CHUNK_BLOCKS = 64;

/** Reads up to `buf.length` bytes at `pos` into `buf`; returns how many (0 at or past the end). */
export async function readData(vol: Volume, inode: Inode, buf: Uint8Array, pos: number): Promise<number> {
  if (pos >= inode.size || buf.length === 0) return 0;
  const n = Math.min(buf.length, inode.size - pos);
  const bs = vol.blockSize;
  const end = pos + n;
  const lastL = Math.floor((end - 1) / bs);
  for (let l0 = Math.floor(pos / bs); l0 <= lastL; l0 += READ_CHUNK_BLOCKS) {
    const count = Math.min(READ_CHUNK_BLOCKS, lastL - l0 + 1);
    const phys = await mapRange(vol, inode, l0, count);
    for (let i = 0; i < count;) {
      // A run: consecutive logical blocks on consecutive disk blocks (or a run of holes).
      let run = 1;
      if (phys[i] !== 0) while (i + run < count && phys[i + run] === phys[i]! + run) run++;
      else while (i + run < count && phys[i + run] === 0) run++;
      const blocks = phys[i] === 0 ? undefined : await vol.cache.getRun(phys[i]!, run);
      for (let k = 0; k < run; k++) {
        const l = l0 + i + k;
        const from = Math.max(pos, l * bs);
        const to = Math.min(end, (l + 1) * bs);
        const dest = buf.subarray(from - pos, to - pos);
        if (blocks) dest.set(blocks[k]!.subarray(from - l * bs, to - l * bs));
        else dest.fill(0);
      }
      i += run;
    }
  }
  return n;
}

/** Zeroes the bytes past `inode.size` in its last block, before the file grows over them. */
async function zeroTail(vol: Volume, inode: Inode): Promise<void> {
  const off = inode.size % vol.blockSize;
  if (off === 0) return;
  const block = await mapBlock(vol, inode, Math.floor(inode.size / vol.blockSize));
  if (block === 0) return;
  const tail = (await vol.cache.get(block)).subarray(off);
  if (tail.some((b) => b !== 0)) await vol.cache.modify(block, (buf) => buf.fill(0, off));
}

/** Writes `data` at `pos`, growing the file if it ends past its size. Writes the inode. */
export async function writeData(vol: Volume, inode: Inode, data: Uint8Array, pos: number): Promise<void> {
  if (data.length === 0) return;
  const end = pos + data.length;
  if (end > maxFileSize(vol))
    throw fsError("EFBIG", `${end} bytes is past the largest file (${maxFileSize(vol)})`);
  const bs = vol.blockSize;
  const oldSize = inode.size;
  if (pos > oldSize) await zeroTail(vol, inode);
  let written = 0; // bytes of `data` on their blocks so far
  try {
    let goal = await goalFor(vol, inode, Math.floor(pos / bs));
    for (let l = Math.floor(pos / bs); l * bs < end; l++) {
      const from = Math.max(pos, l * bs);
      const to = Math.min(end, (l + 1) * bs);
      const { block, fresh } = await ensureBlock(vol, inode, l, goal);
      goal = block + 1;
      const part = data.subarray(from - pos, to - pos);
      if (part.length === bs) await vol.cache.put(block, part);
      else if (fresh) {
        const whole = new Uint8Array(bs);
        whole.set(part, from - l * bs);
        await vol.cache.put(block, whole);
      } else await vol.cache.modify(block, (buf) => buf.set(part, from - l * bs));
      written = to - pos;
    }
  } catch (e) {
    // Out of space (or a device error) part way: keep what was written, give back blocks allocated
    // past it, and leave the inode consistent with its blocks.
    if (written > 0 && pos + written > oldSize) inode.size = pos + written;
    if (end > oldSize) await freeBlocksFrom(vol, inode, Math.ceil(inode.size / bs)).catch(() => {});
    await writeInode(vol, inode);
    throw e;
  }
  if (end > inode.size) inode.size = end;
  vol.noteFileSize(inode.size);
  inode.mtime = inode.ctime = vol.now();
  await writeInode(vol, inode);
}

/** Sets the file's size to `size`: frees blocks past it, or grows it as a hole. Writes the inode. */
export async function truncateData(vol: Volume, inode: Inode, size: number): Promise<void> {
  if (size > maxFileSize(vol))
    throw fsError("EFBIG", `${size} bytes is past the largest file (${maxFileSize(vol)})`);
  const bs = vol.blockSize;
  if (size < inode.size) {
    inode.size = size;
    await zeroTail(vol, inode);
    await freeBlocksFrom(vol, inode, Math.ceil(size / bs));
  } else if (size > inode.size) {
    await zeroTail(vol, inode);
    inode.size = size;
    vol.noteFileSize(size);
  }
  inode.mtime = inode.ctime = vol.now();
  await writeInode(vol, inode);
}
