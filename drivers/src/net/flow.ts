/**
 * Which queue a frame goes on, when a device has several: a hash of what identifies its flow — both
 * MAC addresses, and for TCP or UDP over IPv4 both addresses and ports — so frames of one flow
 * always take the same queue and stay in order, while different flows spread over the queues (what
 * Linux's flow hash does for XPS, and what RSS does on receive). Anything cheap and stable would do;
 * this is FNV-1a over those bytes.
 */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function fnv(h: number, b: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i]!, FNV_PRIME);
  return h;
}

/** A 32-bit hash of `frame`'s flow (see above); frames shorter than a header hash their bytes. */
export function flowHash(frame: Uint8Array): number {
  let h = fnv(FNV_OFFSET, frame, 0, Math.min(12, frame.length));
  const ip = 14;
  if (frame.length >= ip + 20 && frame[12] === 0x08 && frame[13] === 0x00 && frame[ip]! >> 4 === 4) {
    h = fnv(h, frame, ip + 12, ip + 20); // source and destination addresses
    const proto = frame[ip + 9];
    const l4 = ip + (frame[ip]! & 15) * 4;
    const fragment = (((frame[ip + 6]! << 8) | frame[ip + 7]!) & 0x3fff) !== 0;
    if ((proto === 6 || proto === 17) && !fragment && frame.length >= l4 + 4) h = fnv(h, frame, l4, l4 + 4);
  }
  return h >>> 0;
}

/** The queue of `frame` among `n`. */
export const queueOf = (frame: Uint8Array, n: number): number => (n <= 1 ? 0 : flowHash(frame) % n);
