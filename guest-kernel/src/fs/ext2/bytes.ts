/** Little-endian field access on byte arrays: every ext2 on-disk integer is little-endian. */

export const u8 = (b: Uint8Array, off: number): number => b[off]!;
export const u16 = (b: Uint8Array, off: number): number => b[off]! | (b[off + 1]! << 8);
export const u32 = (b: Uint8Array, off: number): number =>
  (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;

export function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}

export function put32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** A NUL-padded fixed-size string field (volume name, last mount point). */
export function getString(b: Uint8Array, off: number, len: number): string {
  const field = b.subarray(off, off + len);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
}

export function putString(b: Uint8Array, off: number, len: number, s: string): void {
  const field = b.subarray(off, off + len);
  field.fill(0);
  field.set(new TextEncoder().encode(s).subarray(0, len));
}
