/**
 * UDP (RFC 768): source port(2) destination port(2) length(2) checksum(2), then the data.
 *
 * The checksum covers the IPv4 pseudo-header, the UDP header and the data. Over IPv4 a zero
 * checksum means the sender computed none (accepted, as RFC 1122 4.1.3.4 requires), so a computed
 * zero is sent as 0xffff — the same value in one's-complement arithmetic.
 */
import { checksum, finish, pseudoHeader, sumWords } from "./checksum.ts";
import { IPPROTO_UDP } from "./ipv4.ts";

export const UDP_HLEN = 8;

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  data: Uint8Array;
}

/** The datagram in an IPv4 payload from `src` to `dst`, or why it was refused. */
export function parseUdp(
  payload: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
): UdpDatagram | "udp.truncated" | "udp.bad-length" | "udp.bad-checksum" {
  if (payload.length < UDP_HLEN) return "udp.truncated";
  const length = (payload[4]! << 8) | payload[5]!;
  if (length < UDP_HLEN || length > payload.length) return "udp.bad-length";
  const sent = (payload[6]! << 8) | payload[7]!;
  const segment = payload.subarray(0, length);
  if (sent !== 0 && checksum(pseudoHeader(src, dst, IPPROTO_UDP, length), segment) !== 0)
    return "udp.bad-checksum";
  return {
    srcPort: (payload[0]! << 8) | payload[1]!,
    dstPort: (payload[2]! << 8) | payload[3]!,
    data: payload.subarray(UDP_HLEN, length),
  };
}

/** A UDP datagram (header and data) with its checksum, for an IPv4 datagram from `src` to `dst`. */
export function buildUdp(
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
  data: Uint8Array,
): Uint8Array {
  const length = UDP_HLEN + data.length;
  const u = new Uint8Array(length);
  u[0] = srcPort >> 8;
  u[1] = srcPort & 0xff;
  u[2] = dstPort >> 8;
  u[3] = dstPort & 0xff;
  u[4] = length >> 8;
  u[5] = length & 0xff;
  u.set(data, UDP_HLEN);
  const sum = finish(sumWords(u, sumWords(pseudoHeader(src, dst, IPPROTO_UDP, length)))) || 0xffff;
  u[6] = sum >> 8;
  u[7] = sum & 0xff;
  return u;
}
