/**
 * The byte stream the TCP tests move: xorshift32 words from a fixed seed, each written
 * least-significant byte first. Pseudo-random, so a segment put at the wrong offset or repeated
 * changes the SHA-256; deterministic, so the test computes the same stream on the host
 * (test/e2e/tcp.test.ts) and compares the hash with node:crypto's. The guests (tcp-sender.ts)
 * make it piece by piece and never hold all of it.
 */

export const PATTERN_SEED = 0x2545f491;

export class PatternStream {
  private x = PATTERN_SEED;

  /** Fills `buf` with the next `buf.length` bytes of the stream (a multiple of 4). */
  fill(buf: Uint8Array): Uint8Array {
    if (buf.length % 4 !== 0) throw new RangeError("pattern: fill a multiple of 4 bytes");
    let x = this.x;
    for (let i = 0; i < buf.length; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf[i] = x & 0xff;
      buf[i + 1] = (x >>> 8) & 0xff;
      buf[i + 2] = (x >>> 16) & 0xff;
      buf[i + 3] = (x >>> 24) & 0xff;
    }
    this.x = x;
    return buf;
  }
}
