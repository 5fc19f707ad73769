/**
 * The sending side of the TCP e2e tests (test/e2e/tcp.test.ts), toward a test/guests/tcp-sink.ts
 * guest at `peer=` (its command line, with the rest of what to do):
 *
 * - `mode=bulk peer=A port=5001 mib=N`: one connection carrying N MiB of tcp-pattern.ts's stream,
 *   hashed (SHA-256) as it is made, then end(). Prints `{"phase":"sent", bytes, sha256, ms,
 *   mibPerSecond, stats}` once the peer has acknowledged our FIN — `stats` is this guest's stack
 *   counters and drops (retransmissions among them).
 * - `mode=echo peer=A port=7 conns=N`: N connections at once, each sending its own message (its
 *   number and a stretch of the pattern, 200..N*97 bytes), ending, and reading the echo to the
 *   peer's FIN. Prints `{"phase":"echoed", conns, matched, errors, ms, stats}`.
 *
 * The sink may boot after us: a refused or unanswered connection is tried again, a few times.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import type { TcpSocket } from "@pvkit/guest-kernel/net/stack/stack";
import { Sha256 } from "@pvkit/guest-kernel/lib/sha256";
import { PatternStream } from "./tcp-pattern.ts";

const CHUNK = 64 * 1024;

/** Connects, trying again while the peer is not up yet (refused, or no answer to ARP or SYN). */
async function connect(k: KernelHandle, peer: string, port: number): Promise<TcpSocket> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await k.net.connect(peer, port, { timeoutMs: 5000 });
    } catch (e) {
      if (attempt >= 12) throw e;
      await k.sleep(250);
    }
  }
}

async function bulk(k: KernelHandle, peer: string, port: number, mib: number) {
  const s = await connect(k, peer, port);
  const pattern = new PatternStream();
  const hash = new Sha256();
  const buf = new Uint8Array(CHUNK);
  const total = mib * 2 ** 20;
  const t0 = k.time.uptimeMs();
  for (let sent = 0; sent < total; sent += CHUNK) {
    const piece = pattern.fill(buf.subarray(0, Math.min(CHUNK, total - sent)));
    hash.update(piece);
    await s.write(piece); // the socket copies what it takes: buf can be refilled
  }
  await s.end();
  const ms = k.time.uptimeMs() - t0;
  return {
    phase: "sent",
    bytes: total,
    sha256: hash.hex(),
    ms,
    mibPerSecond: Math.round((mib / (ms / 1000)) * 10) / 10,
  };
}

/** Connection `i`'s message: its number, then 200 + 97 i bytes of the pattern. */
function message(i: number, pattern: PatternStream): Uint8Array {
  const head = new TextEncoder().encode(`connection ${i}:`);
  const body = pattern.fill(new Uint8Array(200 + 4 * Math.ceil((97 * i) / 4)));
  const m = new Uint8Array(head.length + body.length);
  m.set(head);
  m.set(body, head.length);
  return m;
}

async function echoOne(k: KernelHandle, peer: string, port: number, m: Uint8Array): Promise<boolean> {
  const s = await connect(k, peer, port);
  await s.write(m);
  const ended = s.end();
  ended.catch(() => {}); // a reset fails the reads below as well, and is reported there
  const got: Uint8Array[] = [];
  for await (const c of s) got.push(c);
  await ended;
  const n = got.reduce((x, c) => x + c.length, 0);
  if (n !== m.length) return false;
  let at = 0;
  for (const c of got) for (const b of c) if (b !== m[at++]) return false;
  return true;
}

async function echo(k: KernelHandle, peer: string, port: number, conns: number) {
  const pattern = new PatternStream();
  const messages = Array.from({ length: conns }, (_, i) => message(i, pattern));
  const t0 = k.time.uptimeMs();
  const results = await Promise.allSettled(messages.map((m) => echoOne(k, peer, port, m)));
  const errors = results.flatMap((r, i) =>
    r.status === "rejected" ? [`${i}: ${String(r.reason)}`] : r.value ? [] : [`${i}: echo differs`],
  );
  return {
    phase: "echoed",
    conns,
    matched: results.filter((r) => r.status === "fulfilled" && r.value).length,
    errors: errors.slice(0, 10),
    ms: k.time.uptimeMs() - t0,
  };
}

export default async function main(k: KernelHandle): Promise<void> {
  const arg = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(k.cmdline)?.[1];
  const peer = arg("peer") ?? "10.0.0.1";
  const ip = await k.net.ip();
  const report =
    arg("mode") === "echo"
      ? await echo(k, peer, Number(arg("port") ?? 7), Number(arg("conns") ?? 100))
      : await bulk(k, peer, Number(arg("port") ?? 5001), Number(arg("mib") ?? 1));
  k.print(JSON.stringify({ ...report, stats: ip.stats() }));
  await new Promise<never>(() => {}); // stay up: the test reads the console, then destroys us
}
