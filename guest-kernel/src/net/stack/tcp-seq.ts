/**
 * Sequence number arithmetic (RFC 9293 3.4): sequence numbers are 32-bit and wrap, so "a is before
 * b" means the distance from b forward to a is more than half the space. Every comparison of
 * sequence numbers in the TCP code goes through these; a plain `<` is wrong once the numbers wrap,
 * which a connection moving more than 4 GiB (or starting near 2^32, as a random ISN may) will do.
 */

/** a + n, wrapped to 32 bits. */
export const seqAdd = (a: number, n: number): number => (a + n) >>> 0;

/** a - b as a signed distance: negative when a is before b. */
export const seqDiff = (a: number, b: number): number => (a - b) | 0;

export const seqLt = (a: number, b: number): boolean => seqDiff(a, b) < 0;
export const seqLe = (a: number, b: number): boolean => seqDiff(a, b) <= 0;
export const seqGt = (a: number, b: number): boolean => seqDiff(a, b) > 0;
export const seqGe = (a: number, b: number): boolean => seqDiff(a, b) >= 0;

/** The later of two sequence numbers. */
export const seqMax = (a: number, b: number): number => (seqGt(a, b) ? a : b);
