/**
 * SHA-256 (FIPS 180-4) for guest programs (import "@pvkit/guest-kernel/lib/sha256"): the guest's
 * realm has no crypto, and a program that moves data often wants to prove it arrived intact.
 * Incremental: `new Sha256().update(a).update(b).hex()` hashes a stream of any length without
 * holding it.
 *
 * The algorithm, in short: the message is padded to a multiple of 64 bytes (a 1 bit, zeros, and
 * its length in bits as a 64-bit big-endian number), then each 64-byte block is mixed into eight
 * 32-bit words of state. A block is read as 16 big-endian words W[0..15], extended to 64 by
 *
 *    W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16]
 *
 * and 64 rounds each add one W[t] and one constant K[t] (the fractional parts of the cube roots of
 * the first 64 primes) into the state. JavaScript's bit operators work on 32-bit integers, so every
 * sum is kept in range with `| 0` and the rotations are two shifts.
 */

const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

/** The initial state: fractional parts of the square roots of the first 8 primes. */
const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

export class Sha256 {
  private readonly h = Int32Array.from(H0);
  private readonly w = new Int32Array(64);
  /** A block not yet full, and how many of its bytes are filled. */
  private readonly pending = new Uint8Array(64);
  private held = 0;
  /** Message bytes so far (a double is exact up to 2^53: 8 PiB). */
  private length = 0;
  private finished = false;

  /** Adds `data` to the message. */
  update(data: Uint8Array): this {
    if (this.finished) throw new Error("sha256: update after digest");
    this.length += data.length;
    let i = 0;
    if (this.held > 0) {
      const n = Math.min(64 - this.held, data.length);
      this.pending.set(data.subarray(0, n), this.held);
      this.held += n;
      i = n;
      if (this.held < 64) return this;
      this.block(this.pending, 0);
      this.held = 0;
    }
    for (; i + 64 <= data.length; i += 64) this.block(data, i);
    if (i < data.length) {
      this.pending.set(data.subarray(i), 0);
      this.held = data.length - i;
    }
    return this;
  }

  /** The 32-byte hash of everything added. The hash is finished: no more update(). */
  digest(): Uint8Array {
    if (!this.finished) {
      const bits = this.length * 8;
      const p = this.pending;
      p[this.held++] = 0x80;
      if (this.held > 56) {
        p.fill(0, this.held);
        this.block(p, 0);
        this.held = 0;
      }
      p.fill(0, this.held, 56);
      // The length in bits, big-endian in the last 8 bytes (high word by division: past 2^32).
      const hi = Math.floor(bits / 0x1_0000_0000);
      const lo = bits >>> 0;
      for (let i = 0; i < 4; i++) {
        p[56 + i] = (hi >>> (24 - 8 * i)) & 0xff;
        p[60 + i] = (lo >>> (24 - 8 * i)) & 0xff;
      }
      this.block(p, 0);
      this.finished = true;
    }
    const out = new Uint8Array(32);
    for (let i = 0; i < 8; i++) {
      const v = this.h[i]!;
      out[4 * i] = v >>> 24;
      out[4 * i + 1] = (v >>> 16) & 0xff;
      out[4 * i + 2] = (v >>> 8) & 0xff;
      out[4 * i + 3] = v & 0xff;
    }
    return out;
  }

  /** The hash as 64 lowercase hex digits, as `sha256sum` and node's digest("hex") print it. */
  hex(): string {
    let s = "";
    for (const b of this.digest()) s += (b < 16 ? "0" : "") + b.toString(16);
    return s;
  }

  /** Mixes the 64-byte block at `at` in `m` into the state. */
  private block(m: Uint8Array, at: number): void {
    const w = this.w;
    for (let t = 0; t < 16; t++, at += 4)
      w[t] = (m[at]! << 24) | (m[at + 1]! << 16) | (m[at + 2]! << 8) | m[at + 3]!;
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15]!;
      const y = w[t - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (s1 + w[t - 7]! + s0 + w[t - 16]!) | 0;
    }
    const h = this.h;
    let a = h[0]!;
    let b = h[1]!;
    let c = h[2]!;
    let d = h[3]!;
    let e = h[4]!;
    let f = h[5]!;
    let g = h[6]!;
    let hh = h[7]!;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[t]! + w[t]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (h[0]! + a) | 0;
    h[1] = (h[1]! + b) | 0;
    h[2] = (h[2]! + c) | 0;
    h[3] = (h[3]! + d) | 0;
    h[4] = (h[4]! + e) | 0;
    h[5] = (h[5]! + f) | 0;
    h[6] = (h[6]! + g) | 0;
    h[7] = (h[7]! + hh) | 0;
  }
}

/** The SHA-256 of `data` in hex. */
export const sha256Hex = (data: Uint8Array): string => new Sha256().update(data).hex();
