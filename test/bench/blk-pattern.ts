/**
 * What the blk bench's image holds and where its random reads go, shared by the host side (which
 * writes the image and reads it natively) and the guest (which reads it through blkfront): every
 * 4 KiB block starts with its own block number, so a reader can check each block it got is the one
 * it asked for, and the rest of the block is random bytes (real data: the file is not sparse and
 * no layer can shortcut zeros). The random offsets come from one seeded generator, so the native
 * baseline and the guest read the same blocks in the same order.
 */

export const BLOCK = 4096;

/** Whether `buf`, read from byte `offset` (block-aligned), holds the blocks it should. */
export function blocksStamped(buf: Uint8Array, offset: number): boolean {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let at = 0; at < buf.length; at += BLOCK)
    if (v.getUint32(at, true) !== (offset + at) / BLOCK) return false;
  return true;
}

/** Writes each block's number into its first four bytes; `buf` starts at byte `offset`. */
export function stampBlocks(buf: Uint8Array, offset: number): void {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let at = 0; at < buf.length; at += BLOCK) v.setUint32(at, (offset + at) / BLOCK, true);
}

/** xorshift32 from `seed`: the block numbers of the random reads, in [0, blocks). */
export function randomBlocks(seed: number, blocks: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % blocks;
  };
}
