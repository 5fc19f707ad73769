/**
 * The guest's IPv4 stack (src/net/stack/) against frames built here, byte by byte and with their
 * own RFC 1071 checksums, on a device the test drives by hand and a clock it moves: ARP answered
 * and resolved (queue bounded, entries expiring), pings answered, UDP delivered, closed ports
 * answered with ICMP port unreachable, and every kind of bad packet dropped and counted while the
 * stack keeps answering. Two stacks on one in-memory wire then ping each other.
 */
import { describe, expect, it } from "vitest";
import type { NetDevice } from "../src/kernel/program.ts";
import { checksum } from "../src/net/stack/checksum.ts";
import { IpStack } from "../src/net/stack/stack.ts";
import { fragmentIpv4 } from "../src/net/stack/ipv4-fragment.ts";
import {
  BCAST,
  ME,
  MY_IP,
  PEER,
  PEER_IP,
  arp,
  cat,
  ether,
  fromPeer,
  handDevice,
  icmpEcho,
  ip,
  ipOf,
  ipv4,
  mac,
  rfc1071,
  rig,
  u16,
  udp,
} from "./wire.ts";

describe("the Internet checksum", () => {
  it("matches RFC 1071's worked example and an independent computation", () => {
    // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2; the checksum is its complement.
    expect(checksum(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7))).toBe(0x220d);
    for (let n = 0; n < 200; n++) {
      const data = Uint8Array.from({ length: n * 7 + 1 }, (_, i) => (i * 131 + n * 17) & 0xff);
      expect(checksum(data)).toBe(rfc1071(data));
      expect(checksum(data.subarray(0, 12), data.subarray(12))).toBe(rfc1071(data));
    }
  });
});

describe("ARP", () => {
  it("announces our address at start (gratuitous ARP)", () => {
    const { startup } = rig();
    expect(startup).toHaveLength(1);
    const f = startup[0]!;
    expect([...f.subarray(0, 6)]).toEqual([...BCAST]);
    expect(f.subarray(14, 42)).toEqual(arp(1, mac(ME), MY_IP, new Uint8Array(6), MY_IP));
  });

  it("answers a request for our address and learns the asker", () => {
    const r = rig();
    r.deliver(ether(BCAST, mac(PEER), 0x0806, arp(1, mac(PEER), PEER_IP, new Uint8Array(6), MY_IP)));
    expect(r.sent).toHaveLength(1);
    expect(r.sent[0]!.subarray(0, 42)).toEqual(
      ether(mac(PEER), mac(ME), 0x0806, arp(2, mac(ME), MY_IP, mac(PEER), PEER_IP)),
    );
    expect(r.stack.arp()).toEqual([{ ip: "10.0.0.2", mac: PEER, expiresInMs: 60_000 }]);
    // A request for someone else is not answered and teaches us nothing new.
    r.deliver(
      ether(
        BCAST,
        mac("00:16:3e:00:00:09"),
        0x0806,
        arp(1, mac("00:16:3e:00:00:09"), ip("10.0.0.9"), new Uint8Array(6), ip("10.0.0.7")),
      ),
    );
    expect(r.sent).toHaveLength(1);
    expect(r.stack.arp()).toHaveLength(1);
    r.clock.advance(60_000);
    expect(r.stack.arp()).toEqual([]); // expired
  });

  it("queues datagrams while resolving, bounded, and sends them when the reply comes", () => {
    const r = rig();
    const sock = r.stack.udp.bind(5000, () => undefined);
    for (let i = 0; i < 300; i++) sock.sendTo("10.0.0.2", 7, Uint8Array.of(i & 0xff));
    expect(r.sent).toHaveLength(1); // one request, nothing else yet
    expect(r.sent[0]!.subarray(14, 42)).toEqual(arp(1, mac(ME), MY_IP, new Uint8Array(6), PEER_IP));
    r.deliver(fromPeer(arp(2, mac(PEER), PEER_IP, mac(ME), MY_IP), 0x0806));
    const datagrams = r.sent.slice(1).map(ipOf);
    expect(datagrams.map((d) => d.body[8])).toEqual(Array.from({ length: 256 }, (_, i) => i));
    expect(r.stack.stats().dropped["arp.queue-full"]).toBe(44);
  });

  it("gives up after three unanswered requests and drops what waited", () => {
    const r = rig();
    r.stack.udp.sendTo("10.0.0.3", 7, Uint8Array.of(1));
    r.clock.advance(10_000);
    expect(r.sent).toHaveLength(3);
    expect(r.stack.stats().dropped["arp.unresolved"]).toBe(1);
  });
});

describe("ICMP and UDP", () => {
  const data = Uint8Array.from({ length: 56 }, (_, i) => i);

  it("answers an echo request with the same id, sequence and data", () => {
    const r = rig();
    r.deliver(fromPeer(arp(1, mac(PEER), PEER_IP, new Uint8Array(6), MY_IP), 0x0806));
    r.sent.length = 0;
    r.deliver(fromPeer(ipv4(PEER_IP, MY_IP, 1, icmpEcho(8, 0x77, 3, data))));
    expect(r.sent).toHaveLength(1);
    const f = r.sent[0]!;
    expect([...f.subarray(0, 6)]).toEqual([...mac(PEER)]);
    const d = ipOf(f);
    expect([d.proto, d.ttl, [...d.src], [...d.dst]]).toEqual([1, 64, [...MY_IP], [...PEER_IP]]);
    expect(rfc1071(d.body)).toBe(0);
    expect(d.body).toEqual(icmpEcho(0, 0x77, 3, data));
  });

  it("answers UDP to a closed port with port unreachable quoting the datagram, and delivers to a bound one", () => {
    const r = rig();
    r.deliver(fromPeer(arp(1, mac(PEER), PEER_IP, new Uint8Array(6), MY_IP), 0x0806));
    r.sent.length = 0;
    const dgram = ipv4(PEER_IP, MY_IP, 17, udp(PEER_IP, MY_IP, 4444, 9, Uint8Array.of(1, 2, 3)));
    r.deliver(fromPeer(dgram));
    expect(r.sent).toHaveLength(1);
    const icmp = ipOf(r.sent[0]!).body;
    expect(rfc1071(icmp)).toBe(0);
    expect([icmp[0], icmp[1]]).toEqual([3, 3]);
    expect(icmp.subarray(8)).toEqual(dgram.subarray(0, 28));
    // Sent to the subnet's broadcast address, the same datagram gets no error.
    r.deliver(
      ether(
        BCAST,
        mac(PEER),
        0x0800,
        ipv4(PEER_IP, ip("10.0.0.255"), 17, udp(PEER_IP, ip("10.0.0.255"), 4444, 9, Uint8Array.of(1))),
      ),
    );
    expect(r.sent).toHaveLength(1);

    const got: [number[], string, number][] = [];
    r.stack.udp.bind(9, (d, from) => got.push([[...d], from.address, from.port]));
    r.deliver(fromPeer(dgram));
    expect(got).toEqual([[[1, 2, 3], "10.0.0.2", 4444]]);
    expect(r.sent).toHaveLength(1);
  });

  it("tells the sending socket when its datagram is refused", () => {
    const r = rig();
    r.deliver(fromPeer(arp(1, mac(PEER), PEER_IP, new Uint8Array(6), MY_IP), 0x0806));
    const told: unknown[] = [];
    const s = r.stack.udp.bind(6000, () => undefined);
    s.onUnreachable((to, code) => told.push([to, code]));
    s.sendTo("10.0.0.2", 53, Uint8Array.of(9));
    const out = r.sent.at(-1)!.subarray(14);
    const quote = out.subarray(0, 28);
    // Destination unreachable, code 3 (port), quoting our datagram's header and 8 bytes.
    const msg = new Uint8Array(8 + quote.length);
    msg[0] = 3;
    msg[1] = 3;
    msg.set(quote, 8);
    new DataView(msg.buffer).setUint16(2, rfc1071(msg));
    r.deliver(fromPeer(ipv4(PEER_IP, MY_IP, 1, msg)));
    expect(told).toEqual([[{ address: "10.0.0.2", port: 53 }, 3]]);
  });

  it("drops and counts malformed packets and keeps answering", () => {
    const r = rig();
    r.deliver(fromPeer(arp(1, mac(PEER), PEER_IP, new Uint8Array(6), MY_IP), 0x0806));
    r.sent.length = 0;
    const echo = icmpEcho(8, 1, 1, data);
    const good = ipv4(PEER_IP, MY_IP, 1, echo);
    const bad: [string, Uint8Array][] = [
      ["ip.bad-checksum", ipv4(PEER_IP, MY_IP, 1, echo, { checksum: 0x1234 })],
      ["ip.bad-version", ipv4(PEER_IP, MY_IP, 1, echo, { version: 6 })],
      ["ip.truncated", good.subarray(0, 12)],
      ["ip.bad-length", good.subarray(0, 40)], // the header says more than arrived
      ["ip.bad-header-length", Uint8Array.from(good, (b, i) => (i === 0 ? 0x43 : b))],
      // a piece that is not the last must carry a multiple of 8 bytes
      ["ip.bad-fragment", ipv4(PEER_IP, MY_IP, 1, icmpEcho(8, 1, 1, data.subarray(0, 5)), { frag: 0x2000 })],
      ["ip.not-for-us", ipv4(PEER_IP, ip("10.0.0.50"), 1, echo)],
      ["ip.unknown-protocol", ipv4(PEER_IP, MY_IP, 99, echo)],
      ["icmp.bad-checksum", ipv4(PEER_IP, MY_IP, 1, icmpEcho(8, 1, 1, data, true))],
      ["udp.bad-checksum", ipv4(PEER_IP, MY_IP, 17, udp(PEER_IP, MY_IP, 1, 9, data, true))],
    ];
    for (const [, d] of bad) r.deliver(fromPeer(d));
    r.deliver(ether(mac("00:16:3e:00:00:99"), mac(PEER), 0x0800, good)); // another host's MAC
    r.deliver(fromPeer(Uint8Array.of(1, 2, 3), 0x86dd));
    r.deliver(Uint8Array.of(1, 2, 3));
    expect(r.sent).toHaveLength(0);
    const dropped = r.stack.stats().dropped;
    for (const [why] of bad) expect(dropped[why], why).toBe(1);
    expect([dropped["eth.not-for-us"], dropped["eth.unknown-type"], dropped["eth.truncated"]]).toEqual([
      1, 1, 1,
    ]);
    r.deliver(fromPeer(good));
    expect(r.sent).toHaveLength(1);
    expect(ipOf(r.sent[0]!).body[0]).toBe(0); // an echo reply
  });

  it("answers a ping that arrives in fragments, out of order", () => {
    const r = rig();
    r.deliver(fromPeer(arp(1, mac(PEER), PEER_IP, new Uint8Array(6), MY_IP), 0x0806));
    r.sent.length = 0;
    const big = new Uint8Array(1200).map((_, i) => i & 0xff);
    const whole = ipv4(PEER_IP, MY_IP, 1, icmpEcho(8, 9, 1, big), { frag: 0 });
    const pieces = fragmentIpv4(whole, 576);
    expect(pieces.length).toBe(3);
    for (const p of pieces.reverse()) r.deliver(fromPeer(p));
    expect(r.stack.stats().counters["ip.reassembled"]).toBe(1);
    expect(r.sent).toHaveLength(1); // the reply, whole: 1228 bytes fit our MTU
    const reply = ipOf(r.sent[0]!);
    expect(reply.body[0]).toBe(0);
    expect(reply.body.subarray(8)).toEqual(big);
  });

  it("refuses destinations outside the subnet and datagrams over the MTU", () => {
    const r = rig();
    expect(() => r.stack.udp.sendTo("192.168.1.1", 7, Uint8Array.of(1))).toThrow(/network unreachable/);
    expect(() => r.stack.udp.sendTo("10.0.0.2", 7, new Uint8Array(1500))).toThrow(/MTU/);
    expect(() =>
      new IpStack(handDevice(ME).dev, { address: "10.0.0.1/16", now: () => 0 }).udp.sendTo(
        "10.0.7.7",
        7,
        Uint8Array.of(1),
      ),
    ).not.toThrow();
  });
});

describe("ping", () => {
  it("counts a probe nobody answers as lost once its timeout passes", async () => {
    const r = rig();
    const seen: unknown[] = [];
    const done = r.stack.ping("10.0.0.3", {
      count: 2,
      intervalMs: 0,
      timeoutMs: 1000,
      onReply: (seq, rtt, ttl) => seen.push([seq, rtt, ttl]),
    });
    r.clock.advance(1000);
    await new Promise((go) => setImmediate(go)); // the second probe goes out
    r.clock.advance(1000);
    expect(await done).toEqual({ address: "10.0.0.3", sent: 2, received: 0, rttMs: [undefined, undefined] });
    expect(seen).toEqual([
      [1, undefined, undefined],
      [2, undefined, undefined],
    ]);
  });
});

describe("two stacks on one wire", () => {
  it("ping each other: every probe answered, ARP resolved both ways", async () => {
    const a = handDevice("00:16:3e:00:00:0a");
    const b = handDevice("00:16:3e:00:00:0b");
    // The wire: what one sends, the other receives, a turn of the event loop later.
    const link = (from: NetDevice, to: ReturnType<typeof handDevice>) => {
      from.send = async (f) => void setImmediate(() => to.deliver(f.slice()));
    };
    link(a.dev, b);
    link(b.dev, a);
    const now = () => performance.now();
    const sa = new IpStack(a.dev, { address: "10.0.0.1", now });
    const sb = new IpStack(b.dev, { address: "10.0.0.2", now });
    try {
      const seen: number[] = [];
      const r = await sa.ping("10.0.0.2", {
        count: 5,
        intervalMs: 0,
        timeoutMs: 30_000,
        onReply: (seq, _rtt, ttl) => seen.push(seq * 1000 + ttl!),
      });
      expect([r.sent, r.received, seen]).toEqual([5, 5, [1064, 2064, 3064, 4064, 5064]]); // seq, TTL 64
      expect(r.rttMs.every((t) => t !== undefined && t >= 0)).toBe(true);
      const back = await sb.ping("10.0.0.1", { count: 3, intervalMs: 0, timeoutMs: 30_000 });
      expect(back.received).toBe(3);
      expect(sa.arp().map((e) => e.mac)).toEqual(["00:16:3e:00:00:0b"]);
      expect(sb.arp().map((e) => e.mac)).toEqual(["00:16:3e:00:00:0a"]);
      expect(sb.stats().counters["icmp.echo-replies-sent"]).toBe(5);
      expect(sa.stats().dropped).toEqual({});
    } finally {
      sa.close();
      sb.close();
    }
  });
});
