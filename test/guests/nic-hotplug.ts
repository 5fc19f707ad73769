/**
 * A guest for test/e2e/net-hotplug.test.ts. For each round (`rounds=N`, default 2) it waits for
 * eth0 to appear (`pvkit network-attach`), starts the IP stack on it (the vif's `ip=`), pings
 * `peer-ip` three times and prints `{"phase":"attached<round>",...}` with its MAC and the replies;
 * then waits for eth0 to go (`pvkit network-detach`) and prints `{"phase":"detached<round>",...}`
 * with what a send on the interface it had says. Then it idles. It looks every 10 ms: the test's
 * hang guard bounds it.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { startIp } from "@pvkit/guest-kernel/net/stack/stack";

export default async function main(k: KernelHandle): Promise<void> {
  const rounds = Number(/(?:^|\s)rounds=(\d+)/.exec(k.cmdline)?.[1] ?? "2");
  const peer = /(?:^|\s)peer-ip=(\S+)/.exec(k.cmdline)?.[1] ?? "10.0.0.1";
  const names = () => k.net.list().map((d) => d.name);
  k.print(JSON.stringify({ phase: "ready", nics: names() }));
  const present = () => names().includes("eth0");
  for (let round = 1; round <= rounds; round++) {
    while (!present()) await k.sleep(10);
    const nic = k.net.get("eth0");
    const ip = await startIp(k, "eth0");
    const r = await ip.ping(peer, { count: 3, intervalMs: 10, timeoutMs: 5000 });
    k.print(
      JSON.stringify({ phase: `attached${round}`, mac: nic.mac, address: ip.address, received: r.received }),
    );
    while (present()) await k.sleep(10);
    const after = await nic.send(new Uint8Array(60)).then(
      () => "sent",
      (e: unknown) => String(e),
    );
    k.print(JSON.stringify({ phase: `detached${round}`, after, nics: names() }));
  }
  await new Promise<never>(() => {});
}
