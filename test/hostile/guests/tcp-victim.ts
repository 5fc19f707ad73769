/**
 * The victim of the hostile TCP test (test/hostile/tcp.test.ts): a guest serving TCP echo on port
 * 7 (RFC 862: every byte comes back until the peer closes) with its kernel's stack, while
 * tcp-attacker.ts goes at it with raw frames and tcp-client.ts keeps using it honestly.
 *
 * It listens with a backlog of 1024 (`backlog=` on its command line), as a server that expects
 * floods raises it (Linux's somaxconn is 4096 now): a SYN flood then has to outrun 1024 half-open
 * entries within one round trip of a genuine client to push that client's entry out.
 *
 * When the test writes `data/report` in its xenstore home, it prints the stack's counters and
 * drops as `{"phase":"stats-<what was written>", counters, dropped, connections, served,
 * echoFailures}`. It runs until it is destroyed.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import type { TcpSocket } from "@pvkit/guest-kernel/net/stack/stack";

export default async function main(k: KernelHandle): Promise<void> {
  const backlog = Number(/(?:^|\s)backlog=(\d+)/.exec(k.cmdline)?.[1] ?? 1024);
  const ip = await k.net.ip();
  let served = 0;
  let echoFailures = 0;
  const echo = async (s: TcpSocket) => {
    served++;
    try {
      for await (const chunk of s) await s.write(chunk);
      await s.end();
    } catch {
      echoFailures++; // the attacker resets its own connections: counted, not fatal
    }
  };
  const server = await k.net.listen(7, { backlog });
  void (async () => {
    for await (const s of server) void echo(s);
  })();

  let last: string | undefined;
  await k.xenstore.watch("data/report", () => {
    void k.xenstore.tryRead("data/report").then((what) => {
      if (what === undefined || what === last) return;
      last = what;
      const connections = ip.tcp.connections().length;
      k.print(JSON.stringify({ phase: `stats-${what}`, ...ip.stats(), connections, served, echoFailures }));
    });
  });
  k.print(JSON.stringify({ phase: "ready", address: ip.address, backlog }));
  await new Promise<never>(() => {});
}
