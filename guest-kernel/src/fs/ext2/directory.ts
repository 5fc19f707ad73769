/**
 * Directories: a directory's data blocks hold a chain of variable-length records,
 *
 *   inode u32 | rec_len u16 | name_len u8 | file_type u8 | name (name_len bytes), padded to 4,
 *
 * each rec_len long, the last one reaching the end of its block (records never cross blocks). An
 * entry with inode 0 is unused space. Without the filetype feature name_len is a u16 and there is no
 * type byte. A deleted entry's space is merged into the record before it, or (first in its block)
 * marked unused; a new entry takes the slack of any record long enough, else a new block is appended.
 * Directories never shrink and never have holes (e2fsck insists).
 *
 * dir_index (htree) directories are read linearly: their index blocks are built to look like empty
 * records to readers that do not know the index. Any change here clears EXT2_INDEX_FL, so the
 * directory is plain linear from then on (valid with dir_index set; e2fsck -D could re-index it).
 */
import { corrupt } from "../errors.ts";
import { put16, put32, u16, u32 } from "./bytes.ts";
import { ensureBlock, goalFor, mapBlock } from "./blockmap.ts";
import { INDEX_FL, writeInode, type Inode } from "./inode.ts";
import type { Volume } from "./volume.ts";

export const MAX_NAME = 255;

/** Bytes a record with an `nameLen`-byte name needs: header plus name, rounded up to 4. */
export const recLenFor = (nameLen: number): number => (8 + nameLen + 3) & ~3;

export interface DirEntry {
  ino: number;
  name: string;
  /** The filetype byte (1 file, 2 dir, 7 symlink...), 0 if the volume does not record it. */
  fileType: number;
}

/** One record's place and fields, as a scan finds it. */
interface Slot {
  lblk: number;
  block: number;
  off: number;
  /** The record before it in the same block, -1 if it is the first. */
  prevOff: number;
  ino: number;
  recLen: number;
  nameLen: number;
  fileType: number;
}

const decoder = new TextDecoder();

function recLenAt(vol: Volume, buf: Uint8Array, off: number): number {
  const len = u16(buf, off + 4);
  // 64 KiB blocks cannot say 65536 in 16 bits: 65535 (or 0) stands for it.
  return vol.blockSize === 65536 && (len === 65535 || len === 0) ? 65536 : len;
}

function putRecLen(vol: Volume, buf: Uint8Array, off: number, len: number): void {
  put16(buf, off + 4, len === 65536 ? 65535 : len);
}

/**
 * Calls `visit` for each record of every block of `dir` (unused ones too) until it returns true;
 * returns the slot it stopped at. Each record is checked before it is visited.
 */
async function scan(
  vol: Volume,
  dir: Inode,
  visit: (s: Slot, buf: Uint8Array) => boolean,
): Promise<Slot | undefined> {
  const bs = vol.blockSize;
  const nblocks = Math.ceil(dir.size / bs);
  for (let lblk = 0; lblk < nblocks; lblk++) {
    const block = await mapBlock(vol, dir, lblk);
    if (block === 0) throw corrupt(`directory inode ${dir.ino} has a hole at block ${lblk}`);
    const buf = await vol.cache.get(block);
    let prevOff = -1;
    for (let off = 0; off < bs;) {
      const where = () => `directory inode ${dir.ino}, block ${lblk}, offset ${off}`;
      if (off + 8 > bs) throw corrupt(`${where()}: record header overruns the block`);
      const recLen = recLenAt(vol, buf, off);
      const nameLen = vol.hasFileType ? buf[off + 6]! : u16(buf, off + 6);
      const ino = u32(buf, off);
      if (recLen < 12 || recLen % 4 !== 0) throw corrupt(`${where()}: record length ${recLen}`);
      if (off + recLen > bs) throw corrupt(`${where()}: record of ${recLen} bytes overruns the block`);
      if (ino !== 0 && (nameLen === 0 || 8 + nameLen > recLen))
        throw corrupt(`${where()}: name of ${nameLen} bytes in a ${recLen}-byte record`);
      if (ino > vol.sb.inodesCount) throw corrupt(`${where()}: inode ${ino} is out of range`);
      const fileType = vol.hasFileType ? buf[off + 7]! : 0;
      const s: Slot = { lblk, block, off, prevOff, ino, recLen, nameLen, fileType };
      if (visit(s, buf)) return s;
      prevOff = off;
      off += recLen;
    }
  }
  return undefined;
}

function nameOf(buf: Uint8Array, s: Slot): Uint8Array {
  return buf.subarray(s.off + 8, s.off + 8 + s.nameLen);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Every entry of `dir` in use, "." and ".." included, in on-disk order. */
export async function listEntries(vol: Volume, dir: Inode): Promise<DirEntry[]> {
  const out: DirEntry[] = [];
  await scan(vol, dir, (s, buf) => {
    if (s.ino !== 0) out.push({ ino: s.ino, name: decoder.decode(nameOf(buf, s)), fileType: s.fileType });
    return false;
  });
  return out;
}

/** The entry named `name` in `dir`, if there is one. */
export async function findEntry(vol: Volume, dir: Inode, name: Uint8Array): Promise<DirEntry | undefined> {
  const s = await scan(vol, dir, (s, buf) => s.ino !== 0 && sameBytes(nameOf(buf, s), name));
  return s && { ino: s.ino, name: decoder.decode(name), fileType: s.fileType };
}

/** True if `dir` holds nothing but "." and "..". */
export async function isEmptyDir(vol: Volume, dir: Inode): Promise<boolean> {
  const other = await scan(vol, dir, (s, buf) => {
    if (s.ino === 0) return false;
    const n = nameOf(buf, s);
    const dot = n.length === 1 && n[0] === 0x2e;
    const dotdot = n.length === 2 && n[0] === 0x2e && n[1] === 0x2e;
    return !dot && !dotdot;
  });
  return other === undefined;
}

function writeRecord(
  vol: Volume,
  buf: Uint8Array,
  off: number,
  recLen: number,
  ino: number,
  name: Uint8Array,
  type: number,
) {
  put32(buf, off, ino);
  putRecLen(vol, buf, off, recLen);
  if (vol.hasFileType) {
    buf[off + 6] = name.length;
    buf[off + 7] = type;
  } else put16(buf, off + 6, name.length);
  buf.set(name, off + 8);
}

/** A directory's change: drop the htree flag (the index no longer matches), stamp it, write it. */
async function touchDir(vol: Volume, dir: Inode): Promise<void> {
  dir.flags &= ~INDEX_FL;
  dir.mtime = dir.ctime = vol.now();
  await writeInode(vol, dir);
}

/** Adds the entry `name` → `ino` (the caller checked it is not there yet). Writes `dir`. */
export async function addEntry(
  vol: Volume,
  dir: Inode,
  name: Uint8Array,
  ino: number,
  type: number,
): Promise<void> {
  const need = recLenFor(name.length);
  const fits = await scan(
    vol,
    dir,
    (s) => (s.ino === 0 ? s.recLen : s.recLen - recLenFor(s.nameLen)) >= need,
  );
  if (fits) {
    await vol.cache.modify(fits.block, (buf) => {
      if (fits.ino === 0) return writeRecord(vol, buf, fits.off, fits.recLen, ino, name, type);
      // Split: the record keeps what its name needs, the new one takes the rest.
      const used = recLenFor(fits.nameLen);
      putRecLen(vol, buf, fits.off, used);
      writeRecord(vol, buf, fits.off + used, fits.recLen - used, ino, name, type);
    });
  } else {
    // No room: append a block holding just this entry.
    const bs = vol.blockSize;
    const lblk = Math.ceil(dir.size / bs);
    const { block } = await ensureBlock(vol, dir, lblk, await goalFor(vol, dir, lblk));
    const buf = new Uint8Array(bs);
    writeRecord(vol, buf, 0, bs, ino, name, type);
    await vol.cache.put(block, buf);
    dir.size = (lblk + 1) * bs;
  }
  await touchDir(vol, dir);
}

/** Removes the entry `name`; returns the inode it named (undefined if none). Writes `dir`. */
export async function removeEntry(vol: Volume, dir: Inode, name: Uint8Array): Promise<number | undefined> {
  const s = await scan(vol, dir, (s, buf) => s.ino !== 0 && sameBytes(nameOf(buf, s), name));
  if (!s) return undefined;
  await vol.cache.modify(s.block, (buf) => {
    if (s.prevOff >= 0) putRecLen(vol, buf, s.prevOff, recLenAt(vol, buf, s.prevOff) + s.recLen);
    else put32(buf, s.off, 0);
  });
  await touchDir(vol, dir);
  return s.ino;
}

/** Points the existing entry `name` at `ino` (rename over a target; a moved directory's ".."). */
export async function retargetEntry(
  vol: Volume,
  dir: Inode,
  name: Uint8Array,
  ino: number,
  type: number,
): Promise<void> {
  const s = await scan(vol, dir, (s, buf) => s.ino !== 0 && sameBytes(nameOf(buf, s), name));
  if (!s) throw corrupt(`directory inode ${dir.ino} lost its entry ${decoder.decode(name)}`);
  await vol.cache.modify(s.block, (buf) => {
    put32(buf, s.off, ino);
    if (vol.hasFileType) buf[s.off + 7] = type;
  });
  await touchDir(vol, dir);
}

/** A new directory's first block: "." (itself) and ".." (its parent) filling the block. */
export function firstDirBlock(vol: Volume, self: number, parent: number): Uint8Array {
  const buf = new Uint8Array(vol.blockSize);
  const dot = new Uint8Array([0x2e]);
  writeRecord(vol, buf, 0, 12, self, dot, 2);
  writeRecord(vol, buf, 12, vol.blockSize - 12, parent, new Uint8Array([0x2e, 0x2e]), 2);
  return buf;
}
