/**
 * netback's transmit offloads, done on dom0's copy of a frame (never on the guest's pages):
 *
 *  - VMXNET_OM_CSUM: the guest left the L4 checksum for us, as Linux's CHECKSUM_PARTIAL does. It
 *    stored the pseudo-header's sum in the checksum field; we add up everything from `hdr_len`
 *    (where the L4 header starts) to the end of the frame and store the complement at `msscof`.
 *    Nothing is parsed, so this works for TCP and UDP, IPv4 and IPv6 alike.
 *  - VMXNET_OM_TSO: the guest handed over one TCP/IPv4 frame of up to 64 KiB and an MSS; we cut it
 *    into frames of at most MSS payload bytes, each a well-formed packet on its own: IP total
 *    length, identification (one more per segment) and header checksum; TCP sequence number, flags
 *    (FIN and PSH only on the last segment, CWR only on the first) and checksum (segmentTcp). netback
 *    only checks the request (checkTso); the switch cuts the frame once for the ports that cannot
 *    take it whole — another guest without large receive, a capture, the VXLAN uplink — and hands
 *    it whole to a guest that acked VMXNET_F_LRO, whose netback finishes it as one packet
 *    (finishWholeTso).
 *
 * Every field the guest wrote is checked first; a request that does not fit the frame is an error
 * string (the caller drops the frame and counts it), never an exception.
 */
import { ETH_HLEN } from "./protocol.ts";

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_VLAN = 0x8100;
const IPPROTO_TCP = 6;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;
/** IPv4 flags/fragment offset: MF and the offset (DF is fine). */
const IP_FRAGMENT_BITS = 0x3fff;

/** Folds a sum of any size (a double: exact to 2^53) to 16 bits, end-around carry included. */
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * The sum of `n` aligned little-endian 32-bit words of `b` from byte `at` (at most 2^46 for a 64 KiB
 * frame: exact in a double). A function of its own so that its loop, where the time goes, is
 * optimized as a whole function: as a loop inside onesSum, V8 compiled it on the stack (OSR) while
 * the code after the loop had never run, and every call that then reached that code (a length not
 * a multiple of four) left the compiled loop for the interpreter — dom0 did so ~750 times in one
 * HTTP benchmark, summing frames in the interpreter (`node --trace-deopt`).
 */
function sumWords32(b: Uint8Array, at: number, n: number): number {
  const words = new Uint32Array(b.buffer, b.byteOffset + at, n);
  let sum = 0;
  for (let k = 0; k < n; k++) sum += words[k]!;
  return sum;
}

/**
 * The ones'-complement sum of bytes [start, end) as big-endian 16-bit words, plus `initial`,
 * folded (RFC 1071). The bulk is read as whole little-endian 32-bit words (a Uint32Array over the
 * aligned middle): RFC 1071's byte-order independence says the sum of byte-swapped words is the
 * byte-swapped sum, and 2^16 ≡ 1 (mod 2^16 - 1) says a 32-bit word adds like its two halves. That
 * is two to three times faster than a loop over byte pairs, and the checksum is most of TSO's work.
 */
export function onesSum(b: Uint8Array, start: number, end: number, initial = 0): number {
  let i = start;
  let sum = 0;
  if (((b.byteOffset + i) & 1) === 0) {
    // little-endian pairs up to a 4-byte boundary, whole words, then the tail
    for (; ((b.byteOffset + i) & 3) !== 0 && i + 1 < end; i += 2) sum += b[i]! | (b[i + 1]! << 8);
    const n = ((b.byteOffset + i) & 3) === 0 ? (end - i) >> 2 : 0; // not aligned: too short anyway
    if (n > 0) {
      sum += sumWords32(b, i, n);
      i += n * 4;
    }
    for (; i + 1 < end; i += 2) sum += b[i]! | (b[i + 1]! << 8);
    if (i < end) sum += b[i]!; // an odd byte, padded with a zero byte
    sum = fold(sum);
    sum = ((sum & 0xff) << 8) | (sum >> 8); // back to big-endian
  } else {
    // an odd address: no aligned words to read, so pairs in big-endian order
    for (; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
    if (i < end) sum += b[i]! << 8;
  }
  return fold(sum + initial);
}

/** The checksum to store for UDP (and a partial checksum of unknown protocol): 0 is sent as 0xffff (RFC 768). */
const complement = (sum: number): number => ~sum & 0xffff || 0xffff;

/** VMXNET_OM_CSUM on `frame` in place; an error string when the fields do not fit the frame. */
export function completeChecksum(frame: Uint8Array, start: number, at: number): string | undefined {
  if (start < ETH_HLEN || start >= frame.length)
    return `checksum start ${start} outside the frame (${ETH_HLEN}..${frame.length - 1})`;
  if (at < start || at + 2 > frame.length)
    return `checksum offset ${at} outside ${start}..${frame.length - 2}`;
  const sum = onesSum(frame, start, frame.length);
  const c = complement(sum);
  frame[at] = c >> 8;
  frame[at + 1] = c & 0xff;
  return undefined;
}

/** Where a TCP/IPv4 frame's headers are. */
export interface TcpIpv4Layout {
  /** Offset of the IPv4 header (14, or 18 behind a VLAN tag). */
  ip: number;
  /** Offset of the TCP header. */
  tcp: number;
  /** Offset of the payload: all headers' bytes. */
  payload: number;
}

/** The layout of a TCP/IPv4 frame, or an error string saying why `frame` is not one. */
export function parseTcpIpv4(frame: Uint8Array): TcpIpv4Layout | string {
  let ip = ETH_HLEN;
  let type = (frame[12]! << 8) | frame[13]!;
  if (type === ETHERTYPE_VLAN) {
    ip += 4;
    type = (frame[16]! << 8) | frame[17]!;
  }
  if (type !== ETHERTYPE_IPV4) return `ethertype 0x${type.toString(16)} is not IPv4`;
  if (frame.length < ip + 20) return "the frame ends inside the IPv4 header";
  const vihl = frame[ip]!;
  if (vihl >> 4 !== 4 || (vihl & 15) < 5) return `IPv4 version/IHL byte 0x${vihl.toString(16)}`;
  const tcp = ip + (vihl & 15) * 4;
  if (frame[ip + 9] !== IPPROTO_TCP) return `IP protocol ${frame[ip + 9]} is not TCP`;
  if ((((frame[ip + 6]! << 8) | frame[ip + 7]!) & IP_FRAGMENT_BITS) !== 0) return "an IP fragment";
  if (frame.length < tcp + 20) return "the frame ends inside the TCP header";
  const payload = tcp + (frame[tcp + 12]! >> 4) * 4;
  if (payload < tcp + 20 || payload > frame.length) return "a TCP data offset past the frame";
  return { ip, tcp, payload };
}

/** The IPv4 header checksum of the header at `ip` (its checksum field must be zero). */
const ipv4HeaderChecksum = (f: Uint8Array, ip: number, tcp: number): number => ~onesSum(f, ip, tcp) & 0xffff;

/** The TCP checksum of the segment in `f` (its checksum field must be zero), pseudo-header included. */
export function tcpChecksum(f: Uint8Array, l: TcpIpv4Layout): number {
  const pseudo = onesSum(f, l.ip + 12, l.ip + 20) + IPPROTO_TCP + (f.length - l.tcp); // addresses, protocol, length
  // TCP stores a computed 0 as 0 (RFC 9293 gives it no special meaning): 0xffff would check out
  // in ones'-complement arithmetic, but tshark and other exact checkers call it wrong — 1 segment
  // in 65 536, and a capture test failed on one.
  return ~onesSum(f, l.tcp, f.length, pseudo) & 0xffff;
}

/**
 * A TSO request's checks, without the cutting: a TCP/IPv4 frame whose headers are exactly
 * `hdrLen` bytes, and segments of `mss` that fit `maxFrame`. The layout, or why not.
 */
export function checkTso(
  frame: Uint8Array,
  hdrLen: number,
  mss: number,
  maxFrame: number,
): TcpIpv4Layout | string {
  const l = parseTcpIpv4(frame);
  if (typeof l === "string") return `TSO: ${l}`;
  if (hdrLen !== l.payload) return `TSO: hdr_len ${hdrLen}, but the headers are ${l.payload} bytes`;
  if (mss < 1) return "TSO: an MSS of 0";
  // A segment must fit the wire: an MSS past the MTU is a guest that does not know its own link.
  if (hdrLen + mss > maxFrame)
    return `TSO: ${hdrLen} header bytes + MSS ${mss} exceed a ${maxFrame}-byte frame`;
  return l;
}

/**
 * A TSO frame delivered whole (large receive, VMXNET_F_LRO) made a packet in its own right: IPv4
 * total length and header checksum, and the TCP checksum over all of it, so the guest that gets
 * it may check it like any other (the sender left the TCP checksum to whoever cuts the frame).
 * Done in place, and the same each time: a flooded frame may reach several such guests.
 */
export function finishWholeTso(frame: Uint8Array, hdrLen: number): string | undefined {
  const l = parseTcpIpv4(frame);
  if (typeof l === "string") return l;
  if (l.payload !== hdrLen) return `hdr_len ${hdrLen}, but the headers are ${l.payload} bytes`;
  const ipLen = frame.length - l.ip;
  if (ipLen > 0xffff) return `${ipLen} bytes do not fit an IPv4 packet`;
  frame[l.ip + 2] = ipLen >> 8;
  frame[l.ip + 3] = ipLen & 0xff;
  frame[l.ip + 10] = frame[l.ip + 11] = 0;
  const ipc = ipv4HeaderChecksum(frame, l.ip, l.tcp);
  frame[l.ip + 10] = ipc >> 8;
  frame[l.ip + 11] = ipc & 0xff;
  frame[l.tcp + 16] = frame[l.tcp + 17] = 0;
  const c = tcpChecksum(frame, l);
  frame[l.tcp + 16] = c >> 8;
  frame[l.tcp + 17] = c & 0xff;
  return undefined;
}

/**
 * VMXNET_OM_TSO: `frame`'s payload cut into segments of at most `mss` bytes, each with its own
 * headers (see the top of this file), or an error string. `hdrLen` must be exactly the frame's
 * L2+L3+L4 header bytes as the headers themselves say, and headers + MSS must fit `maxFrame` (the
 * port's MTU + Ethernet header + a VLAN tag).
 */
export function segmentTcp(
  frame: Uint8Array,
  hdrLen: number,
  mss: number,
  maxFrame: number,
): Uint8Array[] | string {
  const l = checkTso(frame, hdrLen, mss, maxFrame);
  if (typeof l === "string") return l;
  const data = frame.length - hdrLen;
  const count = Math.max(1, Math.ceil(data / mss));
  const seq0 =
    ((frame[l.tcp + 4]! << 24) | (frame[l.tcp + 5]! << 16) | (frame[l.tcp + 6]! << 8) | frame[l.tcp + 7]!) >>>
    0;
  const id0 = (frame[l.ip + 4]! << 8) | frame[l.ip + 5]!;
  const flags = frame[l.tcp + 13]!;
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const from = hdrLen + i * mss;
    const len = Math.min(mss, frame.length - from);
    const s = new Uint8Array(hdrLen + len);
    s.set(frame.subarray(0, hdrLen), 0);
    s.set(frame.subarray(from, from + len), hdrLen);
    const ipLen = s.length - l.ip;
    s[l.ip + 2] = ipLen >> 8;
    s[l.ip + 3] = ipLen & 0xff;
    const id = (id0 + i) & 0xffff;
    s[l.ip + 4] = id >> 8;
    s[l.ip + 5] = id & 0xff;
    s[l.ip + 10] = 0;
    s[l.ip + 11] = 0;
    const ipc = ipv4HeaderChecksum(s, l.ip, l.tcp);
    s[l.ip + 10] = ipc >> 8;
    s[l.ip + 11] = ipc & 0xff;
    const seq = (seq0 + i * mss) >>> 0;
    s[l.tcp + 4] = seq >>> 24;
    s[l.tcp + 5] = (seq >>> 16) & 0xff;
    s[l.tcp + 6] = (seq >>> 8) & 0xff;
    s[l.tcp + 7] = seq & 0xff;
    let f = flags;
    if (i !== count - 1) f &= ~(TCP_FIN | TCP_PSH);
    if (i !== 0) f &= ~TCP_CWR;
    s[l.tcp + 13] = f;
    s[l.tcp + 16] = 0;
    s[l.tcp + 17] = 0;
    const c = tcpChecksum(s, l);
    s[l.tcp + 16] = c >> 8;
    s[l.tcp + 17] = c & 0xff;
    out.push(s);
  }
  return out;
}

const IPPROTO_UDP = 17;
const ETHERTYPE_IPV6 = 0x86dd;

/** What VMXNET_F_RXCSUM reports of a received frame (VMXNET_RXC_* bits; `f` names them). */
export function rxChecksumFlags(
  frame: Uint8Array,
  f: { V4: number; V6: number; IPC: number; TCP: number; UDP: number; TUC: number; FRG: number; CNC: number },
): number {
  let ip = ETH_HLEN;
  let type = frame.length >= ETH_HLEN ? (frame[12]! << 8) | frame[13]! : 0;
  if (type === ETHERTYPE_VLAN && frame.length >= ip + 4) {
    ip += 4;
    type = (frame[16]! << 8) | frame[17]!;
  }
  if (type === ETHERTYPE_IPV6) return f.V6 | f.CNC;
  if (type !== ETHERTYPE_IPV4 || frame.length < ip + 20) return f.CNC;
  const ihl = (frame[ip]! & 15) * 4;
  const total = (frame[ip + 2]! << 8) | frame[ip + 3]!;
  if (frame[ip]! >> 4 !== 4 || ihl < 20 || total < ihl || ip + total > frame.length) return f.V4 | f.CNC;
  let flags = f.V4;
  if (onesSum(frame, ip, ip + ihl) === 0xffff) flags |= f.IPC;
  if ((((frame[ip + 6]! << 8) | frame[ip + 7]!) & IP_FRAGMENT_BITS) !== 0) return flags | f.FRG;
  const proto = frame[ip + 9];
  if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) return flags;
  flags |= proto === IPPROTO_TCP ? f.TCP : f.UDP;
  const l4 = ip + ihl;
  const end = ip + total; // not the frame's end: a short packet is padded to 60 bytes
  if (end - l4 < (proto === IPPROTO_TCP ? 20 : 8)) return flags;
  if (proto === IPPROTO_UDP && frame[l4 + 6] === 0 && frame[l4 + 7] === 0) return flags | f.TUC; // none sent
  const pseudo = onesSum(frame, ip + 12, ip + 20) + proto + (end - l4);
  return onesSum(frame, l4, end, pseudo) === 0xffff ? flags | f.TUC : flags;
}
