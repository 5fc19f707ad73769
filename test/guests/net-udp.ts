/**
 * A guest that talks IPv4/UDP to a peer on its bridge, as the capture test's source of real
 * protocol traffic: `ip=10.9.0.11 peer-ip=10.9.0.12 count=5`. It finds the peer's MAC with ARP,
 * then sends `count` datagrams one at a time, each waiting for the peer's echo (net-echo.ts) and
 * checking it came back intact with good checksums; requests are sent again while unanswered (a
 * retry, not a deadline). It prints one JSON line when done and then idles.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { arpFrame, ipBytes, macBytes, parse, udpFrame } from "./packets.ts";

export default async function main(k: KernelHandle): Promise<void> {
  const arg = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(k.cmdline)?.[1];
  const ip = arg("ip") ?? "10.9.0.11";
  const peerIp = arg("peer-ip") ?? "10.9.0.12";
  const count = Number(arg("count") ?? "5");
  const eth = k.net.get("eth0");
  const me = macBytes(eth.mac);
  let peerMac: Uint8Array | undefined;
  const echoes = new Map<number, Uint8Array>();
  let bad = 0;
  let wake = () => {};
  eth.onFrame((f) => {
    const p = parse(f);
    if (p.kind === "arp" && p.op === 2 && p.senderIp === peerIp) peerMac = p.senderMac;
    else if (p.kind === "udp" && p.dst === ip && p.src === peerIp) {
      if (p.checksum !== "ok" || p.srcPort !== 7 || p.dstPort !== 40000) bad++;
      echoes.set(new DataView(p.payload.buffer, p.payload.byteOffset).getUint32(0), p.payload);
    }
    wake();
  });
  const until = async (done: () => boolean, resend: () => void) => {
    while (!done()) {
      resend();
      await Promise.race([new Promise<void>((r) => (wake = r)), k.sleep(200)]);
    }
  };
  const zero = new Uint8Array(6);
  await until(
    () => peerMac !== undefined,
    () => void eth.send(arpFrame(1, me, ipBytes(ip), zero, ipBytes(peerIp))),
  );
  for (let seq = 0; seq < count; seq++) {
    const payload = new Uint8Array(16 + seq * 37);
    new DataView(payload.buffer).setUint32(0, seq);
    for (let i = 4; i < payload.length; i++) payload[i] = (seq + i) & 0xff;
    const send = () =>
      void eth.send(
        udpFrame({
          srcMac: me,
          dstMac: peerMac!,
          srcIp: ipBytes(ip),
          dstIp: ipBytes(peerIp),
          srcPort: 40000,
          dstPort: 7,
          payload,
        }),
      );
    await until(() => echoes.has(seq), send);
    const back = echoes.get(seq)!;
    if (back.length !== payload.length || back.some((b, i) => b !== payload[i])) bad++;
  }
  k.print(JSON.stringify({ phase: "done", sent: count, echoed: echoes.size, bad }));
  await new Promise<never>(() => {});
}
