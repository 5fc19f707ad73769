/**
 * A guest that answers on the network as a tiny host would, for the capture and uplink tests: it
 * replies to ARP requests for its address (`ip=10.9.0.2` on its command line) and echoes every
 * IPv4/UDP datagram sent to that address back to its sender (addresses and ports swapped, checksums
 * recomputed), printing one line per echo. A datagram whose UDP checksum was left to an offload
 * that never happened (Linux over veth and vxlan) is echoed too, and its line says so; one with a
 * wrong checksum is not. It runs until it is shut down.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { arpFrame, ipBytes, macBytes, parse, udpFrame } from "./packets.ts";

export default async function main(k: KernelHandle): Promise<void> {
  const ip = /(?:^|\s)ip=(\S+)/.exec(k.cmdline)?.[1] ?? "10.9.0.2";
  const eth = k.net.get("eth0");
  const me = macBytes(eth.mac);
  const myIp = ipBytes(ip);
  let echoed = 0;
  eth.onFrame((f) => {
    const p = parse(f);
    if (p.kind === "arp" && p.op === 1 && p.targetIp === ip) {
      void eth.send(arpFrame(2, me, myIp, p.senderMac, ipBytes(p.senderIp)));
    } else if (p.kind === "udp" && p.dst === ip) {
      if (p.checksum === "bad") return void k.print(`echo: bad checksum from ${p.src}`);
      echoed++;
      k.print(
        `echo: udp ${p.src}:${p.srcPort} -> ${p.dstPort} ${p.payload.length} bytes, checksum ${p.checksum} (${echoed})`,
      );
      void eth.send(
        udpFrame({
          srcMac: me,
          dstMac: p.srcMac,
          srcIp: myIp,
          dstIp: p.srcIp,
          srcPort: p.dstPort,
          dstPort: p.srcPort,
          payload: p.payload,
        }),
      );
    }
  });
  k.print(`echo: ready on ${eth.mac} ${ip}`);
  await new Promise<never>(() => {});
}
