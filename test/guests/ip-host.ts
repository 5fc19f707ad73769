/**
 * A guest that is only an IPv4 host, for the IP e2e test: it starts the kernel's stack on eth0
 * (address from the vif's `ip=`), which answers ARP and pings by itself, and binds UDP port 9999,
 * where any datagram is answered with the stack's counters as JSON — so a peer can ask what this
 * guest dropped without reading its console. It runs until it is shut down.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { startIp } from "@pvkit/guest-kernel/net/stack/stack";

export const STATS_PORT = 9999;

export default async function main(k: KernelHandle): Promise<void> {
  const ip = await startIp(k);
  const sock = ip.udp.bind(STATS_PORT, (_data, from) =>
    sock.sendTo(from.address, from.port, new TextEncoder().encode(JSON.stringify(ip.stats()))),
  );
  k.print(`ip-host: ready on ${ip.address}/${ip.prefixLength}`);
  await new Promise<never>(() => {});
}
