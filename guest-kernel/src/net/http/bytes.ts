/**
 * The bytes a connection has received and not yet parsed. TCP hands over chunks that cut messages
 * anywhere (a request line in two pieces, three pipelined requests in one), so parsers look at
 * `view()`, the unparsed bytes as one contiguous array, and `consume(n)` what they used. The
 * storage grows by doubling and slides down when the front is used up, so a stream costs amortized
 * O(1) copies per byte however it is chunked.
 */

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

export const utf8 = (s: string): Uint8Array => textEncoder.encode(s);
export const fromUtf8 = (b: Uint8Array): string => textDecoder.decode(b);

/**
 * `b` as Latin-1: header bytes are octets (RFC 9110 5.5), and this keeps one char per byte. A short
 * run (a header's name or value) is built a char at a time: spreading a typed array into
 * String.fromCharCode walks it through its iterator, 5× slower for 12-24 bytes. A long one is
 * taken 4 KiB at a time through apply, which reads the array by index (and keeps the argument
 * count bounded).
 */
export function latin1(b: Uint8Array, start = 0, end = b.length): string {
  let s = "";
  if (end - start <= 64) {
    for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!);
    return s;
  }
  for (let i = start; i < end; i += 4096)
    s += String.fromCharCode.apply(null, b.subarray(i, Math.min(end, i + 4096)) as unknown as number[]);
  return s;
}

/** `s` (chars 0..255) as bytes, one per char. */
export function latin1Bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  latin1Into(s, b, 0);
  return b;
}

/** Writes `s` (chars 0..255) into `out` from `at`, a byte per char. */
export function latin1Into(s: string, out: Uint8Array, at: number): void {
  for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i) & 0xff;
}

/** `parts` joined into one array. */
export function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

export class ByteBuffer {
  private store = new Uint8Array(4096);
  private start = 0;
  private end = 0;

  get length(): number {
    return this.end - this.start;
  }

  push(chunk: Uint8Array): void {
    if (this.end + chunk.length > this.store.length) {
      const need = this.length + chunk.length;
      if (need <= this.store.length / 2) {
        this.store.copyWithin(0, this.start, this.end); // room enough once the used front goes
      } else {
        let size = this.store.length;
        while (size < need * 2) size *= 2;
        const bigger = new Uint8Array(size);
        bigger.set(this.store.subarray(this.start, this.end));
        this.store = bigger;
      }
      this.end = this.length;
      this.start = 0;
    }
    this.store.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** The unparsed bytes; valid until the next push or consume. */
  view(): Uint8Array {
    return this.store.subarray(this.start, this.end);
  }

  /** A copy of the first `n` bytes, consumed. */
  take(n: number): Uint8Array {
    const out = this.store.slice(this.start, this.start + n);
    this.consume(n);
    return out;
  }

  consume(n: number): void {
    this.start += Math.min(n, this.length);
    if (this.start === this.end) this.start = this.end = 0;
  }
}
