/**
 * The Internet checksum (RFC 1071), used by IPv4's header, ICMP, UDP and TCP: the one's-complement
 * of the one's-complement sum of the data taken as big-endian 16-bit words (an odd last byte is
 * padded with a zero on the right). Summing a message that carries its correct checksum gives
 * 0xffff, so a receiver checks by computing the checksum over everything and expecting 0.
 *
 * The sum is order-independent and can be built in parts (the UDP pseudo-header, then the
 * datagram), as long as every part but the last has an even length.
 */

/** Adds `data` as 16-bit words to the running 32-bit `sum` (not yet folded). */
export function sumWords(data: Uint8Array, sum = 0): number {
  const n = data.length & ~1;
  for (let i = 0; i < n; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (data.length & 1) sum += data[data.length - 1]! << 8;
  return sum;
}

/** Folds the carries back in and complements: the 16-bit field value to store. */
export function finish(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The checksum of `parts` taken as one byte string (all but the last of even length). */
export function checksum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) sum = sumWords(p, sum);
  return finish(sum);
}

/**
 * The IPv4 pseudo-header UDP and TCP checksums cover (RFC 768, RFC 9293 3.1): source and
 * destination address, a zero, the protocol and the transport segment's length. It ties the
 * segment to the addresses it travels between, so a misdelivered datagram fails its checksum.
 */
export function pseudoHeader(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): Uint8Array {
  const p = new Uint8Array(12);
  p.set(src.subarray(0, 4), 0);
  p.set(dst.subarray(0, 4), 4);
  p[9] = protocol;
  p[10] = length >> 8;
  p[11] = length & 0xff;
  return p;
}
