/**
 * netback's offloads through the real drivers (net-harness.ts): a guest sends TCP/IPv4 frames with
 * checksum offload and with TSO, another guest on the bridge receives what the switch got. The
 * frames are built in the test (net-frames.ts) and the results checked without the drivers' code:
 * RFC 1071 sums recomputed, the payload reassembled, and tshark reading a pcap of what arrived with
 * its checksum validation on. Bad offload fields are drops counted in txErrors, never a throw.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  VMXNET_F_LRO,
  VMXNET_F_RXCSUM,
  VMXNET_F_TSO,
  VMXNET_F_TXCSUM,
  VMXNET_RXC_IPC,
  VMXNET_RXC_TCP,
  VMXNET_RXC_TUC,
  VMXNET_RXC_V4,
} from "@pvkit/abi/layout";
import { lan, plug, until } from "./net-harness.ts";
import { Bridge } from "@pvkit/guest-kernel/dom0/netback/bridge";
import { onesSum } from "@pvkit/drivers/net/offload";
import {
  TCP_HDRS,
  checksumsOk,
  hasTshark,
  rfc1071,
  tcpFrame,
  tsharkChecks,
  writePcap,
} from "./net-frames.ts";

const dir = mkdtempSync(join(tmpdir(), "pvkit-net-offload-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pattern = (n: number, salt = 0) =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + salt) & 0xff));
const FIN = 0x01;
const PSH = 0x08;
const ACK = 0x10;
const CWR = 0x80;

describe("the ones'-complement sum", () => {
  it("matches RFC 1071 done byte pair by byte pair, at every alignment and length", () => {
    const backing = new Uint8Array(3000).map((_, i) => (i * 89 + 13) & 0xff);
    for (let base = 0; base < 4; base++)
      for (const [start, end] of [
        [0, 0],
        [0, 1],
        [1, 2],
        [0, 7],
        [3, 1503],
        [2, 2001],
        [5, 2990],
      ] as const) {
        const b = backing.subarray(base); // a view whose byteOffset is not a multiple of 4
        const want = rfc1071([Buffer.from(b.subarray(start, end))]);
        expect(onesSum(b, start, end), `base ${base}, ${start}..${end}`).toBe(want);
        expect(onesSum(b, start, end, 0xfffe)).toBe(
          rfc1071([Buffer.from([0xff, 0xfe]), Buffer.from(b.subarray(start, end))]),
        );
      }
  });
});

describe("transmit offloads", () => {
  it("are offered and acked", async () => {
    const { guests } = await lan(2);
    expect(guests[0]!.front.info!.features & (VMXNET_F_TXCSUM | VMXNET_F_TSO)).toBe(
      VMXNET_F_TXCSUM | VMXNET_F_TSO,
    );
  });

  it("complete the TCP checksum of a frame (checksum offload)", async () => {
    const { guests } = await lan(2);
    const [a, b] = guests as [NonNullable<(typeof guests)[0]>, NonNullable<(typeof guests)[0]>];
    const sizes = [0, 1, 7, 100, 1459, 1460];
    for (const n of sizes) {
      const f = tcpFrame({ src: a.mac, dst: b.mac, payload: pattern(n, n), partial: true, flags: ACK | PSH });
      expect(checksumsOk(f).l4).toBe(false); // a partial sum is not a checksum yet
      await a.front.send(f, { csum: { start: 34, offset: 16 } });
    }
    await until(() => b.got.length === sizes.length, "every frame arrives");
    b.got.forEach((g, i) => {
      expect(checksumsOk(g)).toEqual({ ip: true, l4: true });
      expect(Buffer.from(g.subarray(TCP_HDRS))).toEqual(pattern(sizes[i]!, sizes[i]));
    });
    expect(a.back.counters.txErrors).toBe(0);
    if (hasTshark) {
      // A corrupted copy last, to see that tshark really checks.
      const broken = Buffer.from(b.got[3]!);
      broken[TCP_HDRS + 3]! ^= 1;
      const file = join(dir, "csum.pcap");
      writePcap(file, [...b.got, broken]);
      const seen = tsharkChecks(file);
      expect(seen).toHaveLength(sizes.length + 1);
      expect(seen.pop()).toEqual({ ip: "1", l4: "0", malformed: false });
      for (const s of seen) expect(s).toEqual({ ip: "1", l4: "1", malformed: false });
    }
  });

  it("cut a 64 KiB TCP frame into MSS-sized segments (TSO)", async () => {
    const { guests } = await lan(2);
    const [a, b] = guests as [NonNullable<(typeof guests)[0]>, NonNullable<(typeof guests)[0]>];
    const mss = 1448;
    const payload = pattern(16 * 4096 - TCP_HDRS, 5); // as large as 16 descriptors carry
    const seq = 0xfffff000; // wraps past 2^32 within the frame
    const big = tcpFrame({
      src: a.mac,
      dst: b.mac,
      payload,
      seq,
      id: 0xfff0,
      flags: ACK | PSH | FIN | CWR,
      noChecksums: true,
    });
    await a.front.send(big, { tso: { mss, hdrLen: TCP_HDRS } });
    const count = Math.ceil(payload.length / mss);
    await until(() => b.got.length === count, `${count} segments arrive`);
    const joined = Buffer.concat(b.got.map((s) => Buffer.from(s.subarray(TCP_HDRS))));
    expect(joined.equals(payload)).toBe(true);
    b.got.forEach((s, i) => {
      const v = Buffer.from(s.buffer, s.byteOffset, s.length);
      const last = i === count - 1;
      expect(s.length).toBe(last ? TCP_HDRS + payload.length - i * mss : TCP_HDRS + mss);
      expect(v.readUInt16BE(16)).toBe(s.length - 14); // IP total length
      expect(v.readUInt16BE(18)).toBe((0xfff0 + i) & 0xffff); // IP id
      expect(v.readUInt32BE(38)).toBe((seq + i * mss) >>> 0); // TCP sequence
      expect(v[47]).toBe(ACK | (last ? PSH | FIN : 0) | (i === 0 ? CWR : 0));
      expect(checksumsOk(s)).toEqual({ ip: true, l4: true });
    });
    expect(a.back.counters).toMatchObject({ txFrames: 1, txBytes: big.length, txErrors: 0 });
    if (hasTshark) {
      const file = join(dir, "tso.pcap");
      writePcap(file, b.got);
      const seen = tsharkChecks(file);
      expect(seen).toHaveLength(count);
      for (const s of seen) expect(s).toEqual({ ip: "1", l4: "1", malformed: false });
    }
  });

  it("hand a 64 KiB TCP frame whole to a guest that takes large receive, and segments to one that does not", async () => {
    const store = (await lan(0)).store;
    const bridge = new Bridge("pvbr0");
    const a = await plug(store, bridge, 1);
    const whole = await plug(store, bridge, 2, { lro: true, rxcsum: true });
    const cut = await plug(store, bridge, 3);
    expect(whole.front.info!.features & VMXNET_F_LRO).toBe(VMXNET_F_LRO);
    const mss = 1448;
    const payload = pattern(16 * 4096 - TCP_HDRS, 9);
    const broadcast = "ff:ff:ff:ff:ff:ff"; // flooded: both guests get it, each its own way
    const big = tcpFrame({
      src: a.mac,
      dst: broadcast,
      payload,
      seq: 7,
      flags: ACK | PSH,
      noChecksums: true,
    });
    await a.front.send(big, { tso: { mss, hdrLen: TCP_HDRS } });
    const count = Math.ceil(payload.length / mss);
    await until(() => whole.got.length === 1 && cut.got.length === count, "one whole frame, and segments");
    const w = whole.got[0]!;
    expect(w.length).toBe(big.length);
    expect(Buffer.from(w.subarray(TCP_HDRS)).equals(payload)).toBe(true);
    // A packet of its own: IPv4 length and both checksums right, and dom0 says it checked them.
    expect(Buffer.from(w.buffer, w.byteOffset).readUInt16BE(16)).toBe(w.length - 14);
    expect(checksumsOk(w)).toEqual({ ip: true, l4: true });
    expect(whole.flags[0]! & (VMXNET_RXC_IPC | VMXNET_RXC_TUC)).toBe(VMXNET_RXC_IPC | VMXNET_RXC_TUC);
    const joined = Buffer.concat(cut.got.map((s) => Buffer.from(s.subarray(TCP_HDRS))));
    expect(joined.equals(payload)).toBe(true);
    for (const s of cut.got) expect(checksumsOk(s)).toEqual({ ip: true, l4: true });
    // A capture sees the wire: with a tap on the bridge, the whole-frame guest gets segments too.
    const tapped: Uint8Array[] = [];
    const untap = bridge.tap((f) => void tapped.push(f.slice()));
    await a.front.send(big, { tso: { mss, hdrLen: TCP_HDRS } });
    await until(() => whole.got.length === 1 + count, "segments while captured");
    untap();
    expect(tapped).toHaveLength(count);
  });

  it("drop and count frames whose offload fields lie, and go on", async () => {
    const { guests } = await lan(2);
    const [a, b] = guests as [NonNullable<(typeof guests)[0]>, NonNullable<(typeof guests)[0]>];
    const q = a.front.queue(0)!; // below netfront's own checks: the backend must refuse these itself
    const small = tcpFrame({ src: a.mac, dst: b.mac, payload: pattern(100), partial: true });
    const big = tcpFrame({ src: a.mac, dst: b.mac, payload: pattern(20000), noChecksums: true });
    const udp = Buffer.from(big);
    udp[23] = 17; // IP protocol UDP
    const frag = Buffer.from(big);
    frag[20] = 0x20; // IP more-fragments
    const bad: [string, Uint8Array, Parameters<typeof q.send>[1]][] = [
      ["csum start in the Ethernet header", small, { csum: { start: 4, offset: 16 } }],
      ["csum start past the frame", small, { csum: { start: small.length, offset: 0 } }],
      ["csum field past the frame", small, { csum: { start: 34, offset: small.length } }],
      ["csum field straddling the end", small, { csum: { start: 34, offset: small.length - 35 } }],
      ["TSO with MSS 0", big, { tso: { mss: 0, hdrLen: TCP_HDRS } }],
      ["TSO with hdrLen short of the headers", big, { tso: { mss: 1448, hdrLen: 40 } }],
      ["TSO with hdrLen past the headers", big, { tso: { mss: 1448, hdrLen: 60 } }],
      ["TSO with hdrLen past the frame", big, { tso: { mss: 1448, hdrLen: 0xffff } }],
      ["TSO with an MSS past the MTU", big, { tso: { mss: 9000, hdrLen: TCP_HDRS } }],
      ["TSO of UDP", udp, { tso: { mss: 1448, hdrLen: TCP_HDRS } }],
      ["TSO of an IP fragment", frag, { tso: { mss: 1448, hdrLen: TCP_HDRS } }],
      ["a large frame without TSO", big, undefined],
    ];
    for (const [, frame, offload] of bad) await q.send(frame, offload);
    const good = tcpFrame({ src: a.mac, dst: b.mac, payload: pattern(64), partial: true });
    await q.send(good, { csum: { start: 34, offset: 16 } });
    await until(() => b.got.length === 1, "the good frame arrives");
    await until(() => a.back.counters.txErrors === bad.length, "each bad frame is refused");
    await a.front.send(good, { csum: { start: 34, offset: 16 } }); // netfront reaps completions as it sends
    expect(a.front.stats.txErrors).toBe(bad.length); // each bad frame was completed as an error
    expect(a.back.counters.txErrors).toBe(bad.length);
    await until(() => b.got.length === 2, "the second good frame arrives");
    expect(a.back.counters.txFrames).toBe(2);
    expect(checksumsOk(b.got[0]!)).toEqual({ ip: true, l4: true });
    // netfront refuses what it can see is wrong before the ring
    await expect(a.front.send(small, { tso: { mss: 0, hdrLen: TCP_HDRS } })).rejects.toThrow(/MSS/);
    await expect(a.front.send(small, { csum: { start: 34, offset: 500 } })).rejects.toThrow(/past the frame/);
  });
});

describe("receive checksum reporting (VMXNET_F_RXCSUM)", () => {
  it("marks good TCP/IPv4 frames and leaves bad ones unmarked", async () => {
    const { guests } = await lan(2, { rxcsum: true });
    const [a, b] = guests as [NonNullable<(typeof guests)[0]>, NonNullable<(typeof guests)[0]>];
    expect(b.front.info!.features & VMXNET_F_RXCSUM).toBe(VMXNET_F_RXCSUM);
    const good = tcpFrame({ src: a.mac, dst: b.mac, payload: pattern(300) });
    const bad = Buffer.from(good);
    bad[TCP_HDRS + 5]! ^= 0x40;
    await a.front.send(good);
    await a.front.send(bad);
    await until(() => b.got.length === 2, "both arrive");
    const want = VMXNET_RXC_V4 | VMXNET_RXC_IPC | VMXNET_RXC_TCP;
    expect(b.flags[0]! & (want | VMXNET_RXC_TUC)).toBe(want | VMXNET_RXC_TUC);
    expect(b.flags[1]! & (want | VMXNET_RXC_TUC)).toBe(want);
    expect(Buffer.from(b.got[1]!).equals(bad)).toBe(true); // delivered as sent: the guest decides
  });
});
