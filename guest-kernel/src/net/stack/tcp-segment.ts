/**
 * TCP segments (RFC 9293 3.1): parsing with the checks a host makes before trusting one, and
 * building with options and the checksum. The header is
 *
 *    0-1 source port | 2-3 destination port | 4-7 sequence number | 8-11 acknowledgment number
 *    12 data offset(4) reserved(4) | 13 flags CWR ECE URG ACK PSH RST SYN FIN | 14-15 window
 *    16-17 checksum | 18-19 urgent pointer | options (data offset * 4 - 20 bytes) | data
 *
 * Options we read and send only on SYNs: MSS (kind 2, RFC 9293), window scale (kind 3, RFC 7323).
 * SACK-permitted (4) and timestamps (8) are parsed past and never offered, so a peer never sends
 * them to us. Anything else is skipped by its length; a length that runs off the header is a bad
 * segment.
 */
import { finish, pseudoHeader, sumWords } from "./checksum.ts";
import { IPPROTO_TCP } from "./ipv4.ts";

export const TCP_HLEN = 20;

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;

const OPT_END = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WSCALE = 3;

/**
 * A segment as parsed: the header's fields (`window` as sent, not yet scaled; `mss` and `wscale`
 * only when the peer sent those options) and the data.
 */
export interface TcpSegment extends TcpBuild {
  data: Uint8Array;
}

export type TcpParseError = "tcp.truncated" | "tcp.bad-offset" | "tcp.bad-checksum" | "tcp.bad-option";

/** Sequence space the segment occupies: its data, plus one for SYN and one for FIN. */
export const segmentLength = (s: TcpSegment): number =>
  s.data.length + (s.flags & SYN ? 1 : 0) + (s.flags & FIN ? 1 : 0);

/**
 * The segment in an IPv4 payload from `src` to `dst`, or why it was refused. `verified`: the
 * checksum was already checked (by the device) and is not summed again.
 */
export function parseTcp(
  payload: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  verified = false,
): TcpSegment | TcpParseError {
  if (payload.length < TCP_HLEN) return "tcp.truncated";
  const offset = (payload[12]! >> 4) * 4;
  if (offset < TCP_HLEN || offset > payload.length) return "tcp.bad-offset";
  if (!verified) {
    const pseudo = sumWords(pseudoHeader(src, dst, IPPROTO_TCP, payload.length));
    if (finish(sumWords(payload, pseudo)) !== 0) return "tcp.bad-checksum";
  }
  const seg: TcpSegment = {
    srcPort: (payload[0]! << 8) | payload[1]!,
    dstPort: (payload[2]! << 8) | payload[3]!,
    seq: ((payload[4]! << 24) | (payload[5]! << 16) | (payload[6]! << 8) | payload[7]!) >>> 0,
    ack: ((payload[8]! << 24) | (payload[9]! << 16) | (payload[10]! << 8) | payload[11]!) >>> 0,
    flags: payload[13]!,
    window: (payload[14]! << 8) | payload[15]!,
    data: payload.subarray(offset),
  };
  for (let i = TCP_HLEN; i < offset;) {
    const kind = payload[i]!;
    if (kind === OPT_END) break;
    if (kind === OPT_NOP) {
      i++;
      continue;
    }
    const len = payload[i + 1];
    if (len === undefined || len < 2 || i + len > offset) return "tcp.bad-option";
    if (kind === OPT_MSS && len === 4) seg.mss = (payload[i + 2]! << 8) | payload[i + 3]!;
    if (kind === OPT_WSCALE && len === 3) seg.wscale = payload[i + 2]!;
    i += len;
  }
  return seg;
}

export interface TcpBuild {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** Options for a SYN: our MSS and window scale shift. */
  mss?: number;
  wscale?: number;
}

/** Bytes of header (options included) a segment with `h` carries. */
export const tcpHeaderLength = (h: TcpBuild): number =>
  TCP_HLEN + (h.mss !== undefined ? 4 : 0) + (h.wscale !== undefined ? 4 : 0);

/**
 * Writes the header `h` at `at` in `buf`, in front of `dataLen` data bytes already in place after
 * it. With `checksum` false the checksum field is left zero: a TSO frame, whose checksum dom0
 * computes for each segment it cuts.
 */
export function writeTcp(
  buf: Uint8Array,
  at: number,
  src: Uint8Array,
  dst: Uint8Array,
  h: TcpBuild,
  dataLen: number,
  checksum = true,
): void {
  const hlen = tcpHeaderLength(h);
  const s = buf.subarray(at, at + hlen + dataLen);
  s[0] = h.srcPort >> 8;
  s[1] = h.srcPort & 0xff;
  s[2] = h.dstPort >> 8;
  s[3] = h.dstPort & 0xff;
  writeU32(s, 4, h.seq);
  writeU32(s, 8, h.ack);
  s[12] = (hlen / 4) << 4;
  s[13] = h.flags;
  s[14] = h.window >> 8;
  s[15] = h.window & 0xff;
  s[16] = s[17] = s[18] = s[19] = 0;
  let o = TCP_HLEN;
  if (h.mss !== undefined) {
    s.set([OPT_MSS, 4, h.mss >> 8, h.mss & 0xff], o);
    o += 4;
  }
  if (h.wscale !== undefined) s.set([OPT_NOP, OPT_WSCALE, 3, h.wscale], o);
  if (checksum) {
    const sum = finish(sumWords(s, sumWords(pseudoHeader(src, dst, IPPROTO_TCP, s.length))));
    s[16] = sum >> 8;
    s[17] = sum & 0xff;
  }
}

/** A whole segment (header, options, data) from `src` to `dst`, checksummed. */
export function buildTcp(src: Uint8Array, dst: Uint8Array, h: TcpBuild, data: Uint8Array): Uint8Array {
  const hlen = tcpHeaderLength(h);
  const s = new Uint8Array(hlen + data.length);
  s.set(data, hlen);
  writeTcp(s, 0, src, dst, h, data.length);
  return s;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
