/**
 * A wire the test holds for the guest's IPv4 stack (src/net/stack/): frames built here byte by
 * byte with the test's own RFC 1071 checksums (never the stack's code), a device whose sent frames
 * the test reads and whose received ones it feeds, and a clock it moves by hand. Shared by
 * ip-stack.test.ts and tcp-handshake.test.ts.
 */
import { expect } from "vitest";
import type { NetDevice } from "../src/kernel/program.ts";
import { IpStack } from "../src/net/stack/stack.ts";

/** RFC 1071's checksum, computed the plain way: 16-bit words, end-around carry at each step. */
export function rfc1071(bytes: Uint8Array): number {
  const padded = new Uint8Array(bytes.length + (bytes.length % 2));
  padded.set(bytes);
  const v = new DataView(padded.buffer);
  let sum = 0;
  for (let i = 0; i < padded.length; i += 2) {
    sum += v.getUint16(i);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

export const mac = (s: string) => Uint8Array.from(s.split(":"), (h) => parseInt(h, 16));
export const ip = (s: string) => Uint8Array.from(s.split("."), Number);
export const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};
export const u16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff);

export function ether(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  return cat(dst, src, u16(type), payload);
}

export interface Ipv4Opts {
  ttl?: number;
  /** Flags and fragment offset word (0x4000: DF). */
  frag?: number;
  /** Replace the computed header checksum. */
  checksum?: number;
  version?: number;
}

export function ipv4(src: Uint8Array, dst: Uint8Array, proto: number, payload: Uint8Array, o: Ipv4Opts = {}) {
  const h = new Uint8Array(20);
  const v = new DataView(h.buffer);
  h[0] = ((o.version ?? 4) << 4) | 5;
  v.setUint16(2, 20 + payload.length);
  v.setUint16(4, 0x1234);
  v.setUint16(6, o.frag ?? 0x4000);
  h[8] = o.ttl ?? 64;
  h[9] = proto;
  h.set(src, 12);
  h.set(dst, 16);
  v.setUint16(10, o.checksum ?? rfc1071(h));
  return cat(h, payload);
}

export function icmpEcho(
  type: number,
  id: number,
  seq: number,
  data: Uint8Array,
  badSum = false,
): Uint8Array {
  const m = cat(Uint8Array.of(type, 0, 0, 0), u16(id), u16(seq), data);
  new DataView(m.buffer).setUint16(2, rfc1071(m) ^ (badSum ? 0x0101 : 0));
  return m;
}

export function udp(
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  data: Uint8Array,
  badSum = false,
) {
  const seg = cat(u16(sport), u16(dport), u16(8 + data.length), u16(0), data);
  const pseudo = cat(src, dst, Uint8Array.of(0, 17), u16(seg.length));
  const sum = rfc1071(cat(pseudo, seg)) || 0xffff;
  new DataView(seg.buffer).setUint16(6, sum ^ (badSum ? 0x00ff : 0));
  return seg;
}

export function arp(op: number, sha: Uint8Array, spa: Uint8Array, tha: Uint8Array, tpa: Uint8Array) {
  return cat(u16(1), u16(0x0800), Uint8Array.of(6, 4), u16(op), sha, spa, tha, tpa);
}

/** A device whose wire is the test: `sent` holds every frame the stack sent, `deliver` feeds it. */
export function handDevice(macText: string, mtu = 1500) {
  const sent: Uint8Array[] = [];
  let receiver: (f: Uint8Array, rxFlags: number) => void = () => undefined;
  const dev: NetDevice = {
    name: "eth0",
    mac: macText,
    mtu,
    queues: 1,
    send: async (f) => void sent.push(f.slice()),
    onFrame: (fn) => void (receiver = fn),
    stats: () => ({ txFrames: 0, txBytes: 0, txErrors: 0, rxFrames: 0, rxBytes: 0, rxErrors: 0 }),
  };
  return { dev, sent, deliver: (f: Uint8Array) => receiver(f, 0) };
}

/** A clock the test moves: timers fire only when advance() passes them. */
export function handClock() {
  let now = 0;
  let timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => now,
    setTimer(fn: () => void, ms: number) {
      const t = { at: now + ms, fn };
      timers.push(t);
      return () => void (timers = timers.filter((x) => x !== t));
    },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = end;
    },
  };
}

export const ME = "00:16:3e:00:00:01";
export const PEER = "00:16:3e:00:00:02";
export const MY_IP = ip("10.0.0.1");
export const PEER_IP = ip("10.0.0.2");
export const BCAST = mac("ff:ff:ff:ff:ff:ff");

/** A stack at 10.0.0.1 on a hand-driven device, with its start-up frames already taken away. */
export function rig() {
  const wire = handDevice(ME);
  const clock = handClock();
  const stack = new IpStack(wire.dev, { address: "10.0.0.1", now: clock.now, setTimer: clock.setTimer });
  const startup = wire.sent.splice(0);
  return { ...wire, clock, stack, startup };
}

export const fromPeer = (payload: Uint8Array, type = 0x0800) => ether(mac(ME), mac(PEER), type, payload);
/** A frame's IPv4 datagram, checked with the test's own checksum. */
export function ipOf(frame: Uint8Array) {
  const d = frame.subarray(14);
  const v = new DataView(d.buffer, d.byteOffset);
  expect(frame[12] * 256 + frame[13]).toBe(0x0800);
  expect(rfc1071(d.subarray(0, 20))).toBe(0);
  const total = v.getUint16(2);
  return { proto: d[9], ttl: d[8], src: d.slice(12, 16), dst: d.slice(16, 20), body: d.slice(20, total) };
}
