/**
 * The receiving side of the TCP e2e tests (test/e2e/tcp.test.ts): a guest that starts the kernel's
 * TCP/IP stack (its vif's `ip=`) and serves two ports, named on its command line
 * (`port=5001 echo=7`, those by default):
 *
 * - `port`: a sink. Each connection's bytes are hashed (SHA-256) as they arrive and counted; when
 *   the peer closes, the sink prints one JSON line, `{"phase":"received-<peer address>", bytes,
 *   sha256, ms, mibPerSecond}`, timed from the accept to the peer's FIN, and closes its side.
 * - `echo`: every byte comes back (as RFC 862's echo service) until the peer closes; then we close.
 *
 * It prints `{"phase":"ready"}` once both listen, and runs until it is destroyed.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import type { TcpSocket } from "@pvkit/guest-kernel/net/stack/stack";
import { Sha256 } from "@pvkit/guest-kernel/lib/sha256";

async function sink(k: KernelHandle, s: TcpSocket): Promise<void> {
  const t0 = k.time.uptimeMs();
  const hash = new Sha256();
  let bytes = 0;
  for await (const chunk of s) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  const ms = k.time.uptimeMs() - t0;
  k.print(
    JSON.stringify({
      phase: `received-${s.remoteAddress}`,
      bytes,
      sha256: hash.hex(),
      ms,
      mibPerSecond: Math.round((bytes / 2 ** 20 / (ms / 1000)) * 10) / 10,
    }),
  );
  await s.end();
}

async function echo(s: TcpSocket): Promise<void> {
  for await (const chunk of s) await s.write(chunk);
  await s.end();
}

/** Runs `serve` for every connection `port` accepts; a connection that fails is logged, not fatal. */
async function serveAll(k: KernelHandle, port: number, serve: (s: TcpSocket) => Promise<void>) {
  for await (const s of await k.net.listen(port))
    serve(s).catch((e: unknown) => k.print(`tcp-sink: port ${port}: ${String(e)}`));
}

export default async function main(k: KernelHandle): Promise<void> {
  const arg = (name: string, dflt: number) =>
    Number(new RegExp(`(?:^|\\s)${name}=(\\d+)`).exec(k.cmdline)?.[1] ?? dflt);
  const ip = await k.net.ip();
  const done = [serveAll(k, arg("port", 5001), (s) => sink(k, s)), serveAll(k, arg("echo", 7), echo)];
  k.print(JSON.stringify({ phase: "ready", address: ip.address }));
  await Promise.all(done);
}
