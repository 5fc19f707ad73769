/**
 * Real frames for the network driver tests, built and checked here without the drivers' code:
 * TCP/IPv4 and UDP/IPv4 frames, an RFC 1071 checksum written the plain way (Buffer reads), a pcap
 * file writer (the classic libpcap format: a 24-byte file header, then 16 bytes before each frame)
 * and tshark reading such a file with its checksum validation switched on.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";

export const macBytes = (m: string) => Buffer.from(m.split(":").map((h) => parseInt(h, 16)));

/** RFC 1071: the ones'-complement sum of 16-bit big-endian words, folded. */
export function rfc1071(parts: Buffer[]): number {
  const all = Buffer.concat(parts.map((p) => (p.length % 2 ? Buffer.concat([p, Buffer.alloc(1)]) : p)));
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all.readUInt16BE(i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

export interface TcpSpec {
  src: string;
  dst: string;
  srcIp?: [number, number, number, number];
  dstIp?: [number, number, number, number];
  sport?: number;
  dport?: number;
  seq?: number;
  id?: number;
  /** TCP flags byte (ACK 0x10 by default). */
  flags?: number;
  payload: Buffer;
  /** true: the checksum field holds only the pseudo-header sum (as for checksum offload). */
  partial?: boolean;
  /** true: both checksums left zero (TSO: the backend fills them in per segment). */
  noChecksums?: boolean;
}

const ETH = 14;
const IP = 20;
const TCP = 20;
export const TCP_HDRS = ETH + IP + TCP;

/** An Ethernet + IPv4 + TCP frame (no options), checksums as `spec` says. */
export function tcpFrame(s: TcpSpec): Buffer {
  const f = Buffer.alloc(TCP_HDRS + s.payload.length);
  macBytes(s.dst).copy(f, 0);
  macBytes(s.src).copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  const ip = ETH;
  f[ip] = 0x45;
  f.writeUInt16BE(Math.min(0xffff, IP + TCP + s.payload.length), ip + 2);
  f.writeUInt16BE(s.id ?? 0x1234, ip + 4);
  f.writeUInt16BE(0x4000, ip + 6); // DF
  f[ip + 8] = 64;
  f[ip + 9] = 6;
  Buffer.from(s.srcIp ?? [10, 0, 0, 1]).copy(f, ip + 12);
  Buffer.from(s.dstIp ?? [10, 0, 0, 2]).copy(f, ip + 16);
  const tcp = ip + IP;
  f.writeUInt16BE(s.sport ?? 40000, tcp);
  f.writeUInt16BE(s.dport ?? 5001, tcp + 2);
  f.writeUInt32BE((s.seq ?? 1000) >>> 0, tcp + 4);
  f.writeUInt32BE(1, tcp + 8);
  f[tcp + 12] = 5 << 4;
  f[tcp + 13] = s.flags ?? 0x10;
  f.writeUInt16BE(65535, tcp + 14);
  s.payload.copy(f, TCP_HDRS);
  if (s.noChecksums) return f;
  f.writeUInt16BE(~rfc1071([f.subarray(ip, tcp)]) & 0xffff, ip + 10);
  const pseudo = pseudoHeader(f, ip, 6, f.length - tcp);
  if (s.partial) f.writeUInt16BE(rfc1071([pseudo]), tcp + 16);
  else f.writeUInt16BE(~rfc1071([pseudo, f.subarray(tcp)]) & 0xffff, tcp + 16);
  return f;
}

function pseudoHeader(f: Buffer, ip: number, proto: number, len: number): Buffer {
  const p = Buffer.alloc(12);
  f.copy(p, 0, ip + 12, ip + 20);
  p[9] = proto;
  p.writeUInt16BE(len, 10);
  return p;
}

/** Whether `f`'s IPv4 header checksum and its TCP or UDP checksum are right (RFC 1071). */
export function checksumsOk(frame: Uint8Array): { ip: boolean; l4: boolean } {
  const f = Buffer.from(frame.buffer, frame.byteOffset, frame.length);
  const ip = ETH;
  const ihl = (f[ip]! & 15) * 4;
  const total = f.readUInt16BE(ip + 2);
  const l4 = ip + ihl;
  const ipOk = rfc1071([f.subarray(ip, l4)]) === 0xffff;
  const pseudo = pseudoHeader(f, ip, f[ip + 9]!, total - ihl);
  return { ip: ipOk, l4: rfc1071([pseudo, f.subarray(l4, ip + total)]) === 0xffff };
}

/** Writes `frames` as a pcap file (link type 1, Ethernet). */
export function writePcap(path: string, frames: Uint8Array[]): void {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(262144, 16);
  head.writeUInt32LE(1, 20);
  const parts = [head];
  frames.forEach((fr, i) => {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_700_000_000, 0);
    rec.writeUInt32LE(i, 4);
    rec.writeUInt32LE(fr.length, 8);
    rec.writeUInt32LE(fr.length, 12);
    parts.push(rec, Buffer.from(fr));
  });
  writeFileSync(path, Buffer.concat(parts));
}

/**
 * tshark's view of a pcap with IP/TCP/UDP checksum validation on: per frame, the IP and L4 checksum
 * status (Wireshark: 0 bad, 1 good, 2 unverified) and whether it was malformed.
 */
export function tsharkChecks(path: string): { ip: string; l4: string; malformed: boolean }[] {
  const out = execFileSync(
    "tshark",
    [
      "-r",
      path,
      "-o",
      "ip.check_checksum:TRUE",
      "-o",
      "tcp.check_checksum:TRUE",
      "-o",
      "udp.check_checksum:TRUE",
      "-T",
      "fields",
      "-E",
      "separator=|",
      "-e",
      "ip.checksum.status",
      "-e",
      "tcp.checksum.status",
      "-e",
      "udp.checksum.status",
      "-e",
      "_ws.malformed",
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );
  return out
    .trim()
    .split("\n")
    .map((line) => {
      const [ip, tcp, udp, malformed] = line.split("|");
      return { ip: ip ?? "", l4: tcp || udp || "", malformed: (malformed ?? "") !== "" };
    });
}

export const hasTshark = (() => {
  try {
    execFileSync("tshark", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
