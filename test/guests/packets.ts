/**
 * Well-formed ARP and IPv4/UDP frames for the network test guests, built byte by byte with real
 * checksums (the IPv4 header's, and UDP's over the pseudo-header) so that tshark dissects them as
 * the protocols they claim to be and Linux's stack accepts them.
 */

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
/** The shortest Ethernet frame on a wire, without its FCS: shorter frames are padded to it. */
const ETH_ZLEN = 60;

export const macBytes = (m: string): Uint8Array => Uint8Array.from(m.split(":").map((h) => parseInt(h, 16)));
export const ipBytes = (ip: string): Uint8Array => Uint8Array.from(ip.split(".").map(Number));
export const ipText = (b: Uint8Array): string => [...b.subarray(0, 4)].join(".");

/** The Internet checksum (RFC 1071) of `parts`, as if they were one byte string. */
export function inetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const p of parts)
    for (const b of p) {
      if (odd === undefined) odd = b;
      else {
        sum += (odd << 8) | b;
        odd = undefined;
      }
    }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ether(dst: Uint8Array, src: Uint8Array, type: number, body: Uint8Array): Uint8Array {
  const f = new Uint8Array(Math.max(ETH_ZLEN, 14 + body.length));
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(body, 14);
  return f;
}

/** An ARP request (op 1, to broadcast) or reply (op 2, to the asker) for Ethernet and IPv4. */
export function arpFrame(
  op: 1 | 2,
  senderMac: Uint8Array,
  senderIp: Uint8Array,
  targetMac: Uint8Array,
  targetIp: Uint8Array,
): Uint8Array {
  const a = new Uint8Array(28);
  const v = new DataView(a.buffer);
  v.setUint16(0, 1); // hardware: Ethernet
  v.setUint16(2, ETH_P_IP);
  a[4] = 6;
  a[5] = 4;
  v.setUint16(6, op);
  a.set(senderMac, 8);
  a.set(senderIp, 14);
  a.set(targetMac, 18);
  a.set(targetIp, 24);
  const dst = op === 1 ? new Uint8Array(6).fill(0xff) : targetMac;
  return ether(dst, senderMac, ETH_P_ARP, a);
}

export interface Udp {
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  srcIp: Uint8Array;
  dstIp: Uint8Array;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

let ipId = 1;

/**
 * An IPv4 datagram around `l4` (a 20-byte header: DF, TTL 64, the header checksum right) in an
 * Ethernet frame, padded to the wire's minimum. `l4` goes in as it is: its own checksum is the
 * caller's (l4Checksum).
 */
export function ipv4Frame(
  srcMac: Uint8Array,
  dstMac: Uint8Array,
  srcIp: Uint8Array,
  dstIp: Uint8Array,
  protocol: number,
  l4: Uint8Array,
): Uint8Array {
  const ip = new Uint8Array(20 + l4.length);
  const v = new DataView(ip.buffer);
  ip[0] = 0x45;
  v.setUint16(2, ip.length);
  v.setUint16(4, ipId++ & 0xffff);
  v.setUint16(6, 0x4000); // don't fragment
  ip[8] = 64;
  ip[9] = protocol;
  ip.set(srcIp, 12);
  ip.set(dstIp, 16);
  v.setUint16(10, inetChecksum(ip.subarray(0, 20)));
  ip.set(l4, 20);
  return ether(dstMac, srcMac, ETH_P_IP, ip);
}

/** IPv4's pseudo-header for a `length`-byte UDP or TCP segment: addresses, protocol, length. */
function pseudoHeader(srcIp: Uint8Array, dstIp: Uint8Array, protocol: number, length: number): Uint8Array {
  const pseudo = new Uint8Array(12);
  pseudo.set(srcIp.subarray(0, 4), 0);
  pseudo.set(dstIp.subarray(0, 4), 4);
  pseudo[9] = protocol;
  new DataView(pseudo.buffer).setUint16(10, length);
  return pseudo;
}

/** The checksum of a UDP or TCP segment `l4` (its checksum field zero) over IPv4's pseudo-header. */
export const l4Checksum = (srcIp: Uint8Array, dstIp: Uint8Array, protocol: number, l4: Uint8Array): number =>
  inetChecksum(pseudoHeader(srcIp, dstIp, protocol, l4.length), l4);

/** An IPv4 (20-byte header, DF, TTL 64) UDP datagram in an Ethernet frame, both checksums right. */
export function udpFrame(u: Udp): Uint8Array {
  const udp = new Uint8Array(8 + u.payload.length);
  const v = new DataView(udp.buffer);
  v.setUint16(0, u.srcPort);
  v.setUint16(2, u.dstPort);
  v.setUint16(4, udp.length);
  udp.set(u.payload, 8);
  const sum = l4Checksum(u.srcIp, u.dstIp, 17, udp);
  v.setUint16(6, sum === 0 ? 0xffff : sum); // 0 means "no checksum" in UDP over IPv4
  return ipv4Frame(u.srcMac, u.dstMac, u.srcIp, u.dstIp, 17, udp);
}

export type Parsed =
  | { kind: "arp"; op: number; senderMac: Uint8Array; senderIp: string; targetIp: string }
  | (Udp & {
      kind: "udp";
      src: string;
      dst: string;
      /**
       * "ok" when both checksums verify; "partial" when the IPv4 header's does and the UDP field holds
       * only the pseudo-header's sum, as Linux leaves it for checksum offload on virtual links (veth,
       * vxlan) that never finish it; "bad" otherwise.
       */
      checksum: "ok" | "partial" | "bad";
    })
  | { kind: "other" };

/** What a received frame is, checking IPv4 and UDP checksums of UDP datagrams. */
export function parse(f: Uint8Array): Parsed {
  const type = (f[12]! << 8) | f[13]!;
  if (type === ETH_P_ARP && f.length >= 42) {
    const a = f.subarray(14);
    return {
      kind: "arp",
      op: (a[6]! << 8) | a[7]!,
      senderMac: a.slice(8, 14),
      senderIp: ipText(a.subarray(14, 18)),
      targetIp: ipText(a.subarray(24, 28)),
    };
  }
  if (type !== ETH_P_IP || f.length < 42 || f[14] !== 0x45 || f[23] !== 17) return { kind: "other" };
  const ip = f.subarray(14);
  const v = new DataView(ip.buffer, ip.byteOffset);
  const total = v.getUint16(2);
  const udpLen = v.getUint16(24);
  if (total > ip.length || udpLen !== total - 20) return { kind: "other" };
  const src = ip.subarray(12, 16);
  const dst = ip.subarray(16, 20);
  const headerOk = inetChecksum(ip.subarray(0, 20)) === 0;
  const udpOk = v.getUint16(26) === 0 || l4Checksum(src, dst, 17, ip.subarray(20, total)) === 0;
  const partial = v.getUint16(26) === (~inetChecksum(pseudoHeader(src, dst, 17, udpLen)) & 0xffff);
  const checksum = headerOk && udpOk ? "ok" : headerOk && partial ? "partial" : "bad";
  return {
    kind: "udp",
    dstMac: f.slice(0, 6),
    srcMac: f.slice(6, 12),
    srcIp: ip.slice(12, 16),
    dstIp: ip.slice(16, 20),
    src: ipText(src),
    dst: ipText(dst),
    srcPort: v.getUint16(20),
    dstPort: v.getUint16(22),
    payload: ip.slice(28, total),
    checksum,
  };
}
