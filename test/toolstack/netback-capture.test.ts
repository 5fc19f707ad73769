/**
 * Packet capture in dom0: the pcap bytes are the classic format field by field, a capture on a
 * bridge writes every frame entering it and stops at its count with the file closed, a capture on
 * a domain's two vifs writes a frame between them once, and tshark reads what we wrote as the
 * frames we fed it, with nothing malformed.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { newCounters, type NetPort } from "@pvkit/drivers/net/port";
import { Bridge } from "@pvkit/guest-kernel/dom0/netback/bridge";
import { Capture } from "@pvkit/guest-kernel/dom0/netback/capture";
import { PcapWriter, pcapHeader, pcapRecord } from "@pvkit/guest-kernel/dom0/netback/pcap";
import { malformedFrames, protocolHierarchy, tsharkMissing, udpChecksums } from "../e2e/tshark.ts";
import { arpFrame, ipBytes, macBytes, udpFrame } from "../guests/packets.ts";

const dir = mkdtempSync(join(tmpdir(), "pvkit-capture-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class Port implements NetPort {
  readonly counters = newCounters();
  readonly mtu = 1500;
  constructor(
    readonly name: string,
    readonly domid: number,
    readonly mac: Uint8Array,
  ) {}
  send(): boolean {
    return true;
  }
}

const A = macBytes("00:16:3e:00:00:0a");
const B = macBytes("00:16:3e:00:00:0b");
const C = macBytes("00:16:3e:00:00:0c");

/** A frame with a chosen length and a tag byte, ethertype 0x88b5 (local experimental). */
function raw(dst: Uint8Array, src: Uint8Array, tag: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f[14] = tag;
  return f;
}

/** The records of a little-endian microsecond pcap file. */
function records(file: string): { sec: number; usec: number; incl: number; orig: number; data: Buffer }[] {
  const b = readFileSync(file);
  const out = [];
  for (let at = 24; at < b.length;) {
    const incl = b.readUInt32LE(at + 8);
    out.push({
      sec: b.readUInt32LE(at),
      usec: b.readUInt32LE(at + 4),
      incl,
      orig: b.readUInt32LE(at + 12),
      data: b.subarray(at + 16, at + 16 + incl),
    });
    at += 16 + incl;
  }
  return out;
}

describe("pcap format", () => {
  it("writes the classic header: magic, 2.4, UTC, snaplen 65535, Ethernet", () => {
    const h = Buffer.from(pcapHeader());
    expect(h.length).toBe(24);
    expect(h.toString("hex", 0, 4)).toBe("d4c3b2a1"); // 0xa1b2c3d4 little-endian: microseconds
    expect([h.readUInt16LE(4), h.readUInt16LE(6)]).toEqual([2, 4]);
    expect([h.readInt32LE(8), h.readUInt32LE(12)]).toEqual([0, 0]);
    expect([h.readUInt32LE(16), h.readUInt32LE(20)]).toEqual([65535, 1]);
  });

  it("splits the timestamp into seconds and microseconds and truncates to the snaplen", () => {
    const r = Buffer.from(pcapRecord(raw(A, B, 1, 70_000), 1_700_000_000_123_456));
    expect([r.readUInt32LE(0), r.readUInt32LE(4)]).toEqual([1_700_000_000, 123_456]);
    expect([r.readUInt32LE(8), r.readUInt32LE(12)]).toEqual([65535, 70_000]);
    expect(r.length).toBe(16 + 65535);
  });
});

describe("capture", () => {
  it("on a bridge: every entering frame, in order, until the count; the file is then closed", async () => {
    const bridge = new Bridge("pvbr0");
    const [a, b] = [new Port("vif1.0", 1, A), new Port("vif2.0", 2, B)];
    bridge.attach(a);
    bridge.attach(b);
    const file = join(dir, "bridge.pcap");
    let t = 5_000_000;
    const cap = new Capture(new PcapWriter(file, () => (t += 250)), { bridge }, { count: 3 });
    bridge.input(a, raw(B, A, 1, 60));
    bridge.input(b, raw(A, B, 2, 1514));
    bridge.input(a, raw(B, A, 3, 100));
    bridge.input(a, raw(B, A, 4)); // past the count: not written
    const r = await cap.done;
    expect(r).toMatchObject({ file, frames: 3, bytes: 60 + 1514 + 100, end: "count" });
    const recs = records(file);
    expect(recs.map((x) => x.data[14])).toEqual([1, 2, 3]);
    expect(recs.map((x) => [x.incl, x.orig])).toEqual([
      [60, 60],
      [1514, 1514],
      [100, 100],
    ]);
    expect(recs.map((x) => x.sec * 1e6 + x.usec)).toEqual([5_000_250, 5_000_500, 5_000_750]);
    expect(cap.stop()).toBe(r); // stopping again changes nothing
  });

  it("on a domain's two vifs: a frame between them once, others' traffic not at all", async () => {
    const bridge = new Bridge("pvbr0");
    const [a0, a1, c] = [new Port("vif1.0", 1, A), new Port("vif1.1", 1, B), new Port("vif3.0", 3, C)];
    for (const p of [a0, a1, c]) bridge.attach(p);
    bridge.input(c, raw(C, C, 0)); // c's MAC learned (hairpin to itself: dropped)
    bridge.input(a0, raw(C, A, 0)); // a0's learned
    bridge.input(a1, raw(C, B, 0)); // a1's learned
    const file = join(dir, "domain.pcap");
    const cap = new Capture(new PcapWriter(file), {
      ports: [
        { bridge, port: a0 },
        { bridge, port: a1 },
      ],
    });
    bridge.input(a0, raw(B, A, 1)); // a0 → a1: one frame, seen at both ports
    bridge.input(c, raw(new Uint8Array(6).fill(0xff), C, 2)); // broadcast to both: once
    bridge.input(c, raw(C, C, 3)); // c to itself: not ours
    bridge.input(a1, raw(C, B, 4)); // a1 → c
    const r = cap.stop();
    expect(r).toMatchObject({ frames: 3, end: "stopped" });
    expect(records(file).map((x) => x.data[14])).toEqual([1, 2, 4]);
  });

  it("refuses a file it cannot create, with node's error", () => {
    expect(() => new PcapWriter(join(dir, "no/such/dir/x.pcap"))).toThrow(/ENOENT/);
  });

  it.skipIf(tsharkMissing() !== undefined)(
    "tshark reads our file: each frame, ARP and IPv4/UDP dissected, none malformed",
    async () => {
      const bridge = new Bridge("pvbr0");
      const [a, b] = [new Port("vif1.0", 1, A), new Port("vif2.0", 2, B)];
      bridge.attach(a);
      bridge.attach(b);
      const file = join(dir, "tshark.pcap");
      const cap = new Capture(new PcapWriter(file), { bridge });
      const [ipA, ipB] = [ipBytes("10.9.0.1"), ipBytes("10.9.0.2")];
      bridge.input(a, arpFrame(1, A, ipA, new Uint8Array(6), ipB));
      bridge.input(b, arpFrame(2, B, ipB, A, ipA));
      for (let i = 0; i < 10; i++) {
        const payload = new Uint8Array(1 + i * 100).fill(i);
        bridge.input(
          a,
          udpFrame({ srcMac: A, dstMac: B, srcIp: ipA, dstIp: ipB, srcPort: 999, dstPort: 7, payload }),
        );
      }
      for (let i = 0; i < 5; i++) bridge.input(b, raw(A, B, i, 64 + i * 300));
      expect(cap.stop().frames).toBe(17);
      const phs = await protocolHierarchy(file);
      expect(phs.get("eth")).toBe(17);
      expect(phs.get("eth:arp")).toBe(2);
      expect(phs.get("eth:ip:udp")).toBe(10);
      expect(await malformedFrames(file)).toEqual([]);
      expect(await udpChecksums(file)).toEqual([10, 0]);
    },
  );
});
