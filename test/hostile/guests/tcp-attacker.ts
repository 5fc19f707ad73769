/**
 * The attacker of the hostile TCP test (test/hostile/tcp.test.ts). It never starts its kernel's
 * IP stack: it writes raw Ethernet frames on eth0 (k.net.get("eth0").send) and reads raw frames,
 * answering ARP itself — for its own address and for the addresses it forges. Its command line
 * names the victim (`victim=10.0.3.1 victim-mac=...`), its own address (`me=10.0.3.66`) and the
 * honest client's long connection (`client=10.0.3.2:PORT`). The cases, in order:
 *
 * 1. Malformed IPv4 headers: a wrong version, a header length under 20, a total length past the
 *    frame, a bad header checksum, a header cut short.
 * 2. Malformed TCP: a bad checksum, data offsets under 5 words and past the segment, an option
 *    whose length runs off the header, an option of length 1, a header cut short.
 * 3. A connection of its own, made by hand, so it knows every sequence number, and then what RFC
 *    5961 says must not hurt it: data far outside the window (an ACK back), a RST inside the
 *    window but not exactly at rcv.nxt (a challenge ACK back), a RST outside the window
 *    (nothing), a SYN into the established connection (a challenge ACK), data acknowledging bytes
 *    never sent (an ACK back, data dropped), data acknowledging bytes too old (likewise) — after
 *    which the connection still echoes. Then a RST exactly at rcv.nxt does close it, and data
 *    after that is answered with a RST.
 * 4. Blind, against the client's long connection (right ports, guessed sequence numbers): RSTs
 *    and SYNs with sequence numbers every 2^19 across the whole space, so a few land inside the
 *    victim's window (~2^20) and the rest outside. None may close the connection.
 * 5. A SYN flood: SYNs from 128 forged addresses (whose ARP the attacker answers, so the victim's
 *    SYN-ACKs come back here) and distinct ports, at most 16 unanswered at a time — as fast as the
 *    victim answers. After 5,000 it prints `{"phase":"flooding"}` and goes on until it has sent
 *    10,000 and the test has written data/go (the test waits meanwhile for the client to open new
 *    connections), then prints `{"phase":"flooded"}`.
 *
 * At the end, `{"phase":"done", cases}` with what each case saw.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { arpFrame, ipBytes, macBytes } from "../../guests/packets.ts";
import {
  ACK,
  IP_AT,
  PSH,
  RST,
  SYN,
  TCP_AT,
  parseArpRequest,
  parseSegment,
  resum,
  tcpFrame,
  type Segment,
  type TcpSpec,
} from "./tcp-frames.ts";

const FORGED_BASE = 100; // forged sources: 10.0.3.100 .. 10.0.3.227
const FORGED_HOSTS = 128;
const FLOOD = 10_000;
const FLOOD_CAP = 60_000;
const FLOOD_WINDOW = 16;
const WAIT_MS = 10_000;

const arg = (k: KernelHandle, name: string) => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(k.cmdline)?.[1];
const text = new TextDecoder();

export default async function main(k: KernelHandle): Promise<void> {
  const eth = k.net.get("eth0");
  const myMac = macBytes(eth.mac);
  const me = ipBytes(arg(k, "me") ?? "10.0.3.66");
  const victimIp = ipBytes(arg(k, "victim") ?? "10.0.3.1");
  const victimMac = macBytes(arg(k, "victim-mac")!);
  const [clientAddr, clientPortText] = (arg(k, "client") ?? "10.0.3.2:0").split(":");
  const clientIp = ipBytes(clientAddr!);
  const clientPort = Number(clientPortText);
  const subnet = victimIp.subarray(0, 3).join(".");
  const cases: Record<string, unknown> = {};
  const note = (name: string, v: unknown) => {
    cases[name] = v;
    k.print(JSON.stringify({ case: name, saw: v })); // progress, for a failing test's log
  };

  // ---- what comes back: ARP requests answered, TCP segments to our address queued ----
  const segments: Segment[] = [];
  let wake = () => {};
  let onFloodAnswer: (key: number) => void = () => {};
  eth.onFrame((f) => {
    const arp = parseArpRequest(f);
    if (arp) {
      const t = arp.targetIp;
      const forged =
        t.subarray(0, 3).join(".") === subnet && t[3]! >= FORGED_BASE && t[3]! < FORGED_BASE + FORGED_HOSTS;
      if (forged || t.join(".") === me.join("."))
        void eth.send(arpFrame(2, myMac, t, arp.senderMac, arp.senderIp));
      return;
    }
    const s = parseSegment(f);
    if (!s || s.src !== victimIp.join(".")) return;
    if (s.dst === me.join(".")) {
      segments.push(s);
      wake();
    } else if ((s.flags & (SYN | ACK)) === (SYN | ACK)) {
      onFloodAnswer(((ipBytes(s.dst)[3]! << 16) | s.dstPort) >>> 0);
    }
  });

  /** The first segment from the victim to `port` that `ok` accepts (others before it are forgotten). */
  async function expectSegment(port: number, ok: (s: Segment) => boolean, what: string): Promise<Segment> {
    let guard = false;
    void k.time.sleep(WAIT_MS).then(() => ((guard = true), wake()));
    for (;;) {
      const i = segments.findIndex((s) => s.dstPort === port && ok(s));
      if (i >= 0) return segments.splice(0, i + 1)[i]!; // and forget the ones before it
      if (guard) throw new Error(`tcp-attacker: no ${what} from the victim in ${WAIT_MS} ms`);
      await new Promise<void>((r) => (wake = r));
    }
  }

  const toVictim = (s: Partial<TcpSpec> & { srcPort: number; seq: number; ack: number; flags: number }) =>
    tcpFrame({ srcMac: myMac, dstMac: victimMac, srcIp: me, dstIp: victimIp, dstPort: 7, ...s });
  const send = (f: Uint8Array) => eth.send(f);

  // Announce ourselves, so the victim's first answer need not wait for ARP (it may still ask).
  await send(arpFrame(1, myMac, me, new Uint8Array(6), me));

  // ---- 1. malformed IPv4 headers ----
  const good = () => toVictim({ srcPort: 40001, seq: 1, ack: 0, flags: SYN });
  const ipCases: [string, (f: Uint8Array) => Uint8Array][] = [
    ["ip: version 6", (f) => ((f[IP_AT] = 0x65), f)],
    ["ip: header length 16", (f) => ((f[IP_AT] = 0x44), f)],
    ["ip: total length past the frame", (f) => (new DataView(f.buffer).setUint16(IP_AT + 2, 1000), f)],
    ["ip: bad header checksum", (f) => ((f[IP_AT + 10]! ^= 0x5a), f)],
    ["ip: header cut short", (f) => f.subarray(0, IP_AT + 12)],
  ];
  for (const [, spoil] of ipCases) await send(spoil(good()));
  note("malformed ip", ipCases.length);

  // ---- 2. malformed TCP ----
  const opt = (...b: number[]) => Uint8Array.from(b);
  const tcpCases: [string, () => Uint8Array][] = [
    [
      "tcp: bad checksum",
      () => {
        const f = good();
        f[TCP_AT + 16]! ^= 0x01;
        return f;
      },
    ],
    [
      "tcp: data offset 4",
      () => {
        const f = good();
        f[TCP_AT + 12] = 0x40;
        return resum(f);
      },
    ],
    [
      "tcp: data offset past the segment",
      () => {
        const f = good();
        f[TCP_AT + 12] = 0xf0;
        return resum(f);
      },
    ],
    [
      "tcp: option running off the header",
      () => toVictim({ srcPort: 40002, seq: 1, ack: 0, flags: SYN, options: opt(1, 1, 2, 8) }),
    ],
    [
      "tcp: option of length 1",
      () => toVictim({ srcPort: 40003, seq: 1, ack: 0, flags: SYN, options: opt(3, 1, 0, 0) }),
    ],
    [
      "tcp: header cut short",
      () => {
        const f = good();
        new DataView(f.buffer).setUint16(IP_AT + 2, 20 + 12);
        return resum(f.subarray(0, TCP_AT + 12));
      },
    ],
  ];
  for (const [, make] of tcpCases) await send(make());
  note("malformed tcp", tcpCases.length);

  // ---- 3. a connection of our own, and RFC 5961's attacks on it ----
  const port = 40100;
  const iss = 0x1000_0000;
  await send(toVictim({ srcPort: port, seq: iss, ack: 0, flags: SYN, options: opt(2, 4, 0x05, 0xb4) }));
  const synAck = await expectSegment(port, (s) => (s.flags & (SYN | ACK)) === (SYN | ACK), "SYN-ACK");
  let nxt = (iss + 1) >>> 0; // our next sequence number (the victim's rcv.nxt)
  let theirs = (synAck.seq + 1) >>> 0; // the victim's next (what we acknowledge)
  const seg = (flags: number, seq = nxt, ack = theirs, data?: Uint8Array) =>
    toVictim({ srcPort: port, seq, ack, flags, window: 65535, data });
  await send(seg(ACK));
  /** Sends `data` properly and waits for all of it to come back. */
  const echo = async (words: string) => {
    const data = new TextEncoder().encode(words);
    await send(seg(ACK | PSH, nxt, theirs, data));
    nxt = (nxt + data.length) >>> 0;
    let got = "";
    while (got.length < words.length) {
      const s = await expectSegment(port, (x) => x.data.length > 0, "echo");
      got += text.decode(s.data);
      theirs = (s.seq + s.data.length) >>> 0;
      await send(seg(ACK));
    }
    return got;
  };
  const ackBack = (what: string) => expectSegment(port, (s) => s.flags === ACK && s.data.length === 0, what);
  const rfc5961: Record<string, unknown> = { echo: await echo("hello") };
  await send(seg(ACK | PSH, (nxt + 2 ** 30) >>> 0, theirs, opt(1, 2, 3)));
  rfc5961["out-of-window data: ACK with rcv.nxt"] = (await ackBack("ACK for out-of-window data")).ack === nxt;
  await send(seg(RST, (nxt + 1000) >>> 0, 0));
  rfc5961["RST in window, not exact: challenge ACK"] = (await ackBack("challenge ACK to a RST")).ack === nxt;
  await send(seg(RST, (nxt + 2 ** 31) >>> 0, 0));
  await send(seg(SYN, (nxt + 10) >>> 0, 0));
  rfc5961["SYN in window: challenge ACK"] = (await ackBack("challenge ACK to a SYN")).ack === nxt;
  await send(seg(ACK | PSH, nxt, (theirs + 100_000) >>> 0, opt(9)));
  rfc5961["ACK of unsent data: ACK back"] = (await ackBack("ACK for an ACK of unsent data")).ack === nxt;
  await send(seg(ACK | PSH, nxt, (theirs - 300_000) >>> 0, opt(9)));
  rfc5961["ACK too old: ACK back"] = (await ackBack("ACK for an ACK too old")).ack === nxt;
  rfc5961["still echoes"] = await echo("still here");
  await send(seg(RST, nxt, 0));
  await send(seg(ACK | PSH, nxt, theirs, opt(1)));
  rfc5961["exact RST closes: data then reset"] =
    ((await expectSegment(port, (s) => (s.flags & RST) !== 0, "RST")).flags & RST) !== 0;
  note("own connection", rfc5961);

  // ---- 4. blind RSTs and SYNs at the client's connection ----
  const blind = (flags: number, seq: number) =>
    tcpFrame({
      srcMac: myMac, // our own MAC: the bridge must not learn the client's at our port
      dstMac: victimMac,
      srcIp: clientIp,
      dstIp: victimIp,
      srcPort: clientPort,
      dstPort: 7,
      seq,
      ack: 0,
      flags,
    });
  const start = Math.floor(Math.random() * 2 ** 19);
  let blinded = 0;
  for (const flags of [RST, SYN])
    for (let i = 0; i < 2 ** 13; i++, blinded++) await send(blind(flags, (start + i * 2 ** 19) >>> 0));
  note("blind", { sent: blinded });

  // ---- 5. the SYN flood ----
  let go = false;
  const unwatch = await k.xenstore.watch("data/go", () => {
    void k.xenstore.tryRead("data/go").then((v) => {
      go ||= v !== undefined;
      pump();
    });
  });
  const outstanding = new Set<number>();
  let sent = 0;
  let answered = 0;
  let gaveUp = 0;
  let progress = 0;
  let flooding = false;
  let finished = () => {};
  const done = new Promise<void>((r) => (finished = r));
  function pump() {
    while (outstanding.size < FLOOD_WINDOW && (sent < FLOOD || (!go && sent < FLOOD_CAP))) {
      const host = FORGED_BASE + (sent % FORGED_HOSTS);
      const srcPort = 10_000 + Math.floor(sent / FORGED_HOSTS);
      const src = Uint8Array.from([...victimIp.subarray(0, 3), host]);
      outstanding.add(((host << 16) | srcPort) >>> 0);
      void send(toVictim({ srcIp: src, srcPort, seq: (sent * 2654435761) >>> 0, ack: 0, flags: SYN }));
      sent++;
      if (sent === FLOOD / 2 && !flooding) {
        flooding = true;
        k.print(JSON.stringify({ phase: "flooding", sent }));
      }
    }
    if (outstanding.size === 0) finished();
  }
  onFloodAnswer = (key) => {
    if (!outstanding.delete(key)) return; // a retransmitted SYN-ACK
    answered++;
    progress++;
    pump();
  };
  pump();
  // A SYN or its SYN-ACK lost (a full ring) must not stall the flood: after 200 ms with no answer,
  // stop waiting for what is outstanding.
  const watchdog = (async () => {
    for (let seen = -1; outstanding.size > 0; seen = progress) {
      await k.time.sleep(200);
      if (progress === seen && outstanding.size > 0) {
        gaveUp += outstanding.size;
        outstanding.clear();
        pump();
      }
    }
  })();
  await done;
  await watchdog;
  await unwatch();
  note("flood", { sent, answered, gaveUp });
  k.print(JSON.stringify({ phase: "flooded", sent }));
  k.print(JSON.stringify({ phase: "done", cases }));
  await new Promise<never>(() => {});
}
