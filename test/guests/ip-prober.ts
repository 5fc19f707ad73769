/**
 * The other side of the IP e2e test: a guest that starts the kernel's IPv4 stack (its vif's
 * `ip=`) and probes the host at `peer-ip=` from its command line (test/guests/ip-host.ts):
 *
 * 1. `count=N` pings, one after another: every reply must match its probe.
 * 2. A UDP datagram to a port nobody bound there: the ICMP port unreachable must come back and be
 *    delivered to the socket that sent it.
 * 3. Raw malformed frames straight onto the wire (bad IPv4 header checksum, bad UDP and ICMP
 *    checksums, a truncated header, a wrong version), then pings again: the host still answers.
 * 4. The host's counters, asked for over UDP (port 9999).
 *
 * It prints one JSON line with `"phase":"done"` and what it found.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { startIp } from "@pvkit/guest-kernel/net/stack/stack";
import { inetChecksum, ipBytes, macBytes, udpFrame } from "./packets.ts";

const STATS_PORT = 9999;

/**
 * Resolves with what `wait` hands over, or rejects after a generous hang guard (on the kernel's
 * clock: k.time.sleep wakes an idle vCPU, the realm's setTimeout need not).
 */
function nextEvent<T>(k: KernelHandle, wait: (resolve: (v: T) => void) => void, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    void k.time.sleep(30_000).then(() => reject(new Error(`ip-prober: no ${what} in 30 s`)));
    wait(resolve);
  });
}

export default async function main(k: KernelHandle): Promise<void> {
  const peer = /(?:^|\s)peer-ip=(\S+)/.exec(k.cmdline)?.[1] ?? "10.0.0.1";
  const count = Number(/(?:^|\s)count=(\d+)/.exec(k.cmdline)?.[1] ?? 20);
  const ip = await startIp(k);
  const eth = k.net.get("eth0");
  k.print(`ip-prober: ${ip.address} probing ${peer}`);

  // 1. Pings. The first waits for ARP; a generous timeout, since the reply is an event we await.
  const first = await ip.ping(peer, { count, intervalMs: 0, timeoutMs: 30_000 });

  // 2. A closed port: the error comes back to the socket.
  const unreachable = await nextEvent<{ port: number; code: number }>(
    k,
    (done) => {
      const s = ip.udp.bind(0, () => undefined);
      s.onUnreachable((to, code) => (s.close(), done({ port: to.port, code })));
      s.sendTo(peer, 7, new TextEncoder().encode("anyone?"));
    },
    "port unreachable",
  );

  // 3. Bad frames, built by hand from a good UDP datagram (packets.ts) and then spoiled.
  const peerMac = ip.arp().find((e) => e.ip === peer)!.mac;
  const good = () =>
    udpFrame({
      srcMac: macBytes(eth.mac),
      dstMac: macBytes(peerMac),
      srcIp: ipBytes(ip.address),
      dstIp: ipBytes(peer),
      srcPort: 40000,
      dstPort: STATS_PORT,
      payload: new TextEncoder().encode("spoiled"),
    });
  const spoil = (f: Uint8Array, at: number, xor: number) => ((f[at]! ^= xor), f);
  const badIcmp = (() => {
    // An echo request whose ICMP checksum is off by one.
    const f = good();
    f[23] = 1;
    const icmp = f.subarray(34, 34 + 8 + 7);
    icmp.fill(0, 0, 8);
    icmp[0] = 8;
    const sum = inetChecksum(icmp) ^ 1;
    icmp[2] = sum >> 8;
    icmp[3] = sum & 0xff;
    f[16] = 0; // IPv4 total length 20 + 15, header checksum redone
    f[17] = 35;
    f[24] = f[25] = 0;
    const h = inetChecksum(f.subarray(14, 34));
    f[24] = h >> 8;
    f[25] = h & 0xff;
    return f;
  })();
  const bad = [
    spoil(good(), 24, 0x5a), // IPv4 header checksum
    spoil(good(), 40, 0x5a), // UDP checksum
    spoil(good(), 14, 0x10), // version 5
    good().subarray(0, 30), // the IPv4 header cut short
    badIcmp,
  ];
  for (const f of bad) await eth.send(f);
  const again = await ip.ping(peer, { count: 5, intervalMs: 0, timeoutMs: 30_000 });

  // 4. The host's counters, by UDP.
  const stats = await nextEvent<{ dropped: Record<string, number>; counters: Record<string, number> }>(
    k,
    (done) => {
      const s = ip.udp.bind(0, (d) => (s.close(), done(JSON.parse(new TextDecoder().decode(d)))));
      s.sendTo(peer, STATS_PORT, new TextEncoder().encode("stats?"));
    },
    "stats from the host",
  );
  k.print(
    JSON.stringify({
      phase: "done",
      sent: first.sent,
      received: first.received,
      lost: first.rttMs.filter((t) => t === undefined).length,
      unreachable,
      badSent: bad.length,
      againReceived: again.received,
      peerDropped: stats.dropped,
      peerEchoReplies: stats.counters["icmp.echo-replies-sent"],
      myDropped: ip.stats().dropped,
    }),
  );
  await new Promise<never>(() => {});
}
