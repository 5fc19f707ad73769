/**
 * TCP/IPv4 frames built and read byte by byte, for the hostile TCP test's attacker
 * (tcp-attacker.ts), which sends them raw on its NIC instead of through its kernel's stack. A
 * frame is built well-formed — IPv4 header checksum, TCP checksum over the pseudo-header — and a
 * case then spoils the one field it tests, so the victim has exactly one reason to drop it. The
 * IPv4 framing and checksums are the test guests' (test/guests/packets.ts); what the victim sends
 * back is read here too, not with the guest kernel's own parser, so a bug in the kernel's TCP code
 * cannot agree with itself.
 */
import { inetChecksum, ipText, ipv4Frame, l4Checksum, type Udp } from "../../guests/packets.ts";

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

/** Where an IPv4 header and a TCP header begin in a frame (no VLAN tag, no IP options). */
export const IP_AT = 14;
export const TCP_AT = 34;

/** A segment to build: the addressing udpFrame takes, and TCP's own fields. */
export interface TcpSpec extends Omit<Udp, "payload"> {
  seq: number;
  ack: number;
  flags: number;
  window?: number;
  /** TCP options, a multiple of 4 bytes. */
  options?: Uint8Array;
  data?: Uint8Array;
}

/** Ethernet + a 20-byte IPv4 header (DF, TTL 64) + TCP, every checksum right. */
export function tcpFrame(s: TcpSpec): Uint8Array {
  const options = s.options ?? new Uint8Array(0);
  const data = s.data ?? new Uint8Array(0);
  const t = new Uint8Array(20 + options.length + data.length);
  const v = new DataView(t.buffer);
  v.setUint16(0, s.srcPort);
  v.setUint16(2, s.dstPort);
  v.setUint32(4, s.seq >>> 0);
  v.setUint32(8, s.ack >>> 0);
  t[12] = ((20 + options.length) / 4) << 4;
  t[13] = s.flags;
  v.setUint16(14, s.window ?? 65535);
  t.set(options, 20);
  t.set(data, 20 + options.length);
  v.setUint16(16, l4Checksum(s.srcIp, s.dstIp, 6, t));
  return ipv4Frame(s.srcMac, s.dstMac, s.srcIp, s.dstIp, 6, t);
}

/** Recomputes the IPv4 header checksum and the TCP checksum after a field was changed. */
export function resum(f: Uint8Array): Uint8Array {
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const ihl = (f[IP_AT]! & 0x0f) * 4;
  v.setUint16(IP_AT + 10, 0);
  v.setUint16(IP_AT + 10, inetChecksum(f.subarray(IP_AT, IP_AT + ihl)));
  const total = v.getUint16(IP_AT + 2);
  const tcp = f.subarray(IP_AT + ihl, IP_AT + Math.max(ihl, Math.min(total, f.length - IP_AT)));
  if (tcp.length < 18) return f;
  tcp[16] = tcp[17] = 0;
  const sum = l4Checksum(f.subarray(IP_AT + 12, IP_AT + 16), f.subarray(IP_AT + 16, IP_AT + 20), 6, tcp);
  tcp[16] = sum >> 8;
  tcp[17] = sum & 0xff;
  return f;
}

/** A TCP segment addressed to us, as the attacker reads what the victim sends back. */
export interface Segment {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  data: Uint8Array;
}

/** The TCP segment in `f`, or undefined when `f` is not TCP over IPv4. (No checksum check: the victim's frames are trusted here.) */
export function parseSegment(f: Uint8Array): Segment | undefined {
  if (f.length < TCP_AT + 20 || f[12] !== 0x08 || f[13] !== 0x00 || f[IP_AT + 9] !== 6) return undefined;
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const ihl = (f[IP_AT]! & 0x0f) * 4;
  const total = v.getUint16(IP_AT + 2);
  const t = IP_AT + ihl;
  const off = (f[t + 12]! >> 4) * 4;
  return {
    src: ipText(f.subarray(IP_AT + 12, IP_AT + 16)),
    dst: ipText(f.subarray(IP_AT + 16, IP_AT + 20)),
    srcPort: v.getUint16(t),
    dstPort: v.getUint16(t + 2),
    seq: v.getUint32(t + 4),
    ack: v.getUint32(t + 8),
    flags: f[t + 13]!,
    window: v.getUint16(t + 14),
    data: f.slice(t + off, IP_AT + total),
  };
}

/** The ARP request in `f` (op 1), as sender and target addresses, or undefined. */
export function parseArpRequest(
  f: Uint8Array,
): { senderMac: Uint8Array; senderIp: Uint8Array; targetIp: Uint8Array } | undefined {
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x06 || f[20] !== 0 || f[21] !== 1) return undefined;
  return { senderMac: f.slice(22, 28), senderIp: f.slice(28, 32), targetIp: f.slice(38, 42) };
}
