/**
 * IPv4 headers (RFC 791): parsing with every check a host must make before trusting one, and
 * building with a fresh identification and the header checksum. The header is
 *
 *    0 version(4) ihl(4) | 1 tos | 2-3 total length | 4-5 identification | 6-7 flags(3) offset(13)
 *    8 ttl | 9 protocol | 10-11 header checksum | 12-15 source | 16-19 destination | options...
 *
 * Fragments are put back together by ipv4-reassembly.ts before anything above IP sees them.
 * Everything this stack sends carries Don't Fragment and fits the MTU (TCP sizes its segments
 * by it), so it never makes fragments itself.
 */
import { checksum } from "./checksum.ts";

export const IP_HLEN = 20;
export const IPPROTO_ICMP = 1;
export const IPPROTO_UDP = 17;
export const IPPROTO_TCP = 6;
/** The TTL we send with, as Linux does (net.ipv4.ip_default_ttl). */
export const DEFAULT_TTL = 64;

/** "10.0.0.1" to its 4 bytes; throws RangeError when it is not a dotted quad. */
export function parseIp(text: string): Uint8Array {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    throw new RangeError(`"${text}" is not an IPv4 address`);
  return Uint8Array.from(parts.map(Number));
}

export const formatIp = (ip: Uint8Array): string => [...ip.subarray(0, 4)].join(".");

/** The address as one unsigned 32-bit number, for masks and map keys. */
export const ipNumber = (ip: Uint8Array): number =>
  ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0;

export const ipFromNumber = (n: number): Uint8Array =>
  Uint8Array.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);

/** The netmask of a prefix length: 24 -> 255.255.255.0 as a number. */
export const prefixMask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

export interface Ipv4Header {
  headerLength: number;
  totalLength: number;
  id: number;
  /** Don't Fragment, More Fragments, and the fragment offset in bytes. */
  df: boolean;
  mf: boolean;
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  src: Uint8Array;
  dst: Uint8Array;
  /** The header, options included. */
  header: Uint8Array;
  /** The payload, cut to totalLength (Ethernet padding removed). */
  payload: Uint8Array;
}

/** Why a header was refused: the counter each reason adds to. */
export type Ipv4Error =
  "ip.truncated" | "ip.bad-version" | "ip.bad-header-length" | "ip.bad-length" | "ip.bad-checksum";

/**
 * Parses and checks the datagram at the start of `data` (an Ethernet payload, maybe padded):
 * version 4, a header length of at least 20 bytes that fits, a total length between the header's and
 * what arrived, and a header checksum that sums to zero.
 */
export function parseIpv4(data: Uint8Array): Ipv4Header | Ipv4Error {
  if (data.length < IP_HLEN) return "ip.truncated";
  if (data[0]! >> 4 !== 4) return "ip.bad-version";
  const headerLength = (data[0]! & 0x0f) * 4;
  if (headerLength < IP_HLEN || headerLength > data.length) return "ip.bad-header-length";
  const totalLength = (data[2]! << 8) | data[3]!;
  if (totalLength < headerLength || totalLength > data.length) return "ip.bad-length";
  const header = data.subarray(0, headerLength);
  if (checksum(header) !== 0) return "ip.bad-checksum";
  const frag = (data[6]! << 8) | data[7]!;
  return {
    headerLength,
    totalLength,
    id: (data[4]! << 8) | data[5]!,
    df: (frag & 0x4000) !== 0,
    mf: (frag & 0x2000) !== 0,
    fragmentOffset: (frag & 0x1fff) * 8,
    ttl: data[8]!,
    protocol: data[9]!,
    src: data.subarray(12, 16),
    dst: data.subarray(16, 20),
    header,
    payload: data.subarray(headerLength, totalLength),
  };
}

let nextId = 1;

/**
 * Writes a 20-byte header (DF set, a fresh identification, the checksum) at `at` in `buf` for a
 * datagram of `totalLength` bytes, header included. The payload may be written before or after.
 */
export function writeIpv4Header(
  buf: Uint8Array,
  at: number,
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  totalLength: number,
  ttl = DEFAULT_TTL,
): void {
  const d = buf.subarray(at, at + IP_HLEN);
  const id = nextId;
  nextId = (nextId + 1) & 0xffff;
  d[0] = 0x45; // version 4, 5 words of header
  d[1] = 0;
  d[2] = totalLength >> 8;
  d[3] = totalLength & 0xff;
  d[4] = id >> 8;
  d[5] = id & 0xff;
  d[6] = 0x40; // Don't Fragment: we would rather be told (ICMP) than be cut up
  d[7] = 0;
  d[8] = ttl;
  d[9] = protocol;
  d[10] = d[11] = 0;
  d.set(src.subarray(0, 4), 12);
  d.set(dst.subarray(0, 4), 16);
  const sum = checksum(d);
  d[10] = sum >> 8;
  d[11] = sum & 0xff;
}

/** A datagram with a 20-byte header (DF set, checksum filled in) around `payload`. */
export function buildIpv4(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  payload: Uint8Array,
  ttl = DEFAULT_TTL,
): Uint8Array {
  const d = new Uint8Array(IP_HLEN + payload.length);
  d.set(payload, IP_HLEN);
  writeIpv4Header(d, 0, src, dst, protocol, d.length, ttl);
  return d;
}
