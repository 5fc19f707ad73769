/**
 * The passive side of TCP's handshake (src/net/stack/tcp.ts, tcp-input.ts) against segments built
 * here, on a wire the test holds (wire.ts). The case that matters: the peer's SYN arrives twice —
 * its SYN-ACK was lost, or its first SYN and the retransmission both waited for ARP on the peer's
 * side and came out together (seen in `test/e2e/tcp.test.ts`'s capture: the sink answered the
 * second copy with a bare ACK at its ISS, sent before its own SYN-ACK, and tshark flagged the
 * SYN-ACK as a reused port). A repeated SYN is answered with the SYN-ACK again, as Linux does, and
 * nothing without SYN ever leaves before our SYN.
 */
import { describe, expect, it } from "vitest";
import {
  MY_IP,
  PEER,
  PEER_IP,
  arp,
  cat,
  ether,
  fromPeer,
  ipOf,
  ipv4,
  mac,
  rfc1071,
  rig,
  u16,
} from "./wire.ts";

const SYN = 0x02;
const ACK = 0x10;
const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);

/** A TCP segment from the peer to us, options MSS 1460 on a SYN, checksummed here. */
function segment(sport: number, dport: number, seq: number, ack: number, flags: number): Uint8Array {
  const options = flags & SYN ? Uint8Array.of(2, 4, 0x05, 0xb4) : new Uint8Array(0);
  const offset = (20 + options.length) / 4;
  const h = cat(u16(sport), u16(dport), u32(seq), u32(ack), Uint8Array.of(offset << 4, flags), u16(65535));
  const seg = cat(h, u16(0), u16(0), options);
  const pseudo = cat(PEER_IP, MY_IP, Uint8Array.of(0, 6), u16(seg.length));
  new DataView(seg.buffer).setUint16(16, rfc1071(cat(pseudo, seg)));
  return fromPeer(ipv4(PEER_IP, MY_IP, 6, seg));
}

/** The TCP segments among the frames we sent: flags, seq, ack. */
function segmentsSent(frames: Uint8Array[]) {
  return frames
    .map(ipOf)
    .filter((d) => d.proto === 6)
    .map((d) => {
      const v = new DataView(d.body.buffer, d.body.byteOffset);
      return { flags: d.body[13]!, seq: v.getUint32(4), ack: v.getUint32(8) };
    });
}

const turn = () => new Promise<void>((r) => setImmediate(r));
const PEER_ISN = 0x1000_0000;

/** A stack listening on 5001 that knows the peer's MAC (it asked for ours, so we learned it). */
async function listening() {
  const r = rig();
  r.deliver(
    ether(mac("ff:ff:ff:ff:ff:ff"), mac(PEER), 0x0806, arp(1, mac(PEER), PEER_IP, new Uint8Array(6), MY_IP)),
  );
  r.stack.tcp.listen(5001);
  await turn();
  r.sent.splice(0); // the ARP reply
  return r;
}

describe("TCP handshake, passive side", () => {
  it("answers two copies of a SYN in one turn with one SYN-ACK and nothing before it", async () => {
    const r = await listening();
    r.deliver(segment(40000, 5001, PEER_ISN, 0, SYN));
    r.deliver(segment(40000, 5001, PEER_ISN, 0, SYN));
    await turn();
    const out = segmentsSent(r.sent.splice(0));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ flags: SYN | ACK, ack: PEER_ISN + 1 });
    expect(r.stack.stats().counters["tcp.syn-repeated"]).toBe(1);
    expect(r.stack.stats().dropped).toEqual({});
  });

  it("sends the same SYN-ACK again for a SYN repeated later, then completes on the peer's ACK", async () => {
    const r = await listening();
    r.deliver(segment(40001, 5001, PEER_ISN, 0, SYN));
    await turn();
    const [first] = segmentsSent(r.sent.splice(0));
    r.deliver(segment(40001, 5001, PEER_ISN, 0, SYN)); // our SYN-ACK was lost
    await turn();
    const again = segmentsSent(r.sent.splice(0));
    expect(again).toEqual([first]);
    expect(first).toMatchObject({ flags: SYN | ACK, ack: PEER_ISN + 1 });

    r.deliver(segment(40001, 5001, PEER_ISN + 1, first!.seq + 1, ACK));
    await turn();
    const row = r.stack.tcp.connections().find((c) => c.remotePort === 40001);
    expect(row?.state).toBe("ESTABLISHED");
    expect(segmentsSent(r.sent.splice(0))).toEqual([]); // nothing to say to a bare ACK
  });

  it("still answers a SYN at another sequence number with a challenge ACK (RFC 5961), after its SYN-ACK", async () => {
    const r = await listening();
    r.deliver(segment(40002, 5001, PEER_ISN, 0, SYN));
    await turn();
    const [synAck] = segmentsSent(r.sent.splice(0));
    r.deliver(segment(40002, 5001, PEER_ISN + 5000, 0, SYN));
    await turn();
    const out = segmentsSent(r.sent.splice(0));
    expect(out).toEqual([{ flags: ACK, seq: synAck!.seq + 1, ack: PEER_ISN + 1 }]);
    expect(r.stack.stats().counters["tcp.syn-repeated"]).toBeUndefined();
  });
});
