/**
 * The honest client of the hostile TCP test (test/hostile/tcp.test.ts), talking to tcp-victim.ts
 * at `victim=` while tcp-attacker.ts attacks it. Two things at once, the whole time:
 *
 * - one long connection to the echo port: a message (its round number and bytes derived from
 *   it, 16..1400 bytes), its echo read back and compared, again and again; rounds are published
 *   in xenstore (data/rounds, every 10) so the test can watch them grow;
 * - new connections one after another: connect, send "hello <n>", close, read the echo back;
 *   each success is published (data/conns), so the test can see them go through during the SYN
 *   flood.
 *
 * It prints `{"phase":"running", localPort}` (the long connection's port: the attacker's blind
 * RSTs aim at it) after the first round. When the test writes data/stop it stops both and prints
 * `{"phase":"stopped", rounds, failures, conns, connFailures, errors}`. A failure is an echo that
 * differs, a read that found the connection reset, or no answer within 20 s.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import type { TcpSocket } from "@pvkit/guest-kernel/net/stack/stack";

const ROUND_GUARD_MS = 20_000;

function messageOf(round: number): Uint8Array {
  const m = new Uint8Array(16 + ((round * 7919) % (1400 - 16 + 1)));
  new DataView(m.buffer).setUint32(0, round);
  for (let i = 4; i < m.length; i++) m[i] = (round * 13 + i * 29) & 0xff;
  return m;
}

/** Reads exactly `n` bytes (fewer if the peer closes first). */
async function readExactly(s: TcpSocket, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const c = await s.read();
    if (c === null) break;
    out.set(c.subarray(0, n - at), at);
    at += c.length;
  }
  return out.subarray(0, Math.min(at, n));
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

export default async function main(k: KernelHandle): Promise<void> {
  const victim = /(?:^|\s)victim=(\S+)/.exec(k.cmdline)?.[1] ?? "10.0.0.1";
  const ipStack = await k.net.ip();
  let stop = false;
  const unwatch = await k.xenstore.watch("data/stop", () => {
    void k.xenstore.tryRead("data/stop").then((v) => (stop ||= v !== undefined));
  });
  const errors: string[] = [];
  const fail = (what: string) => {
    // At once, with what the NIC and the stack counted, for a failing test's log.
    k.print(JSON.stringify({ failure: what, nic: k.net.get("eth0").stats(), ip: ipStack.stats() }));
    if (errors.length < 10) errors.push(what);
  };
  /** `p`, or undefined after ROUND_GUARD_MS (kernel timer: wakes an idle vCPU). */
  const guarded = <T>(p: Promise<T>) => Promise.race([p, k.time.sleep(ROUND_GUARD_MS).then(() => undefined)]);

  // The victim may still be booting: try the first connection a few times.
  let first: TcpSocket | undefined;
  for (let i = 0; !first; i++) {
    first = await k.net.connect(victim, 7, { timeoutMs: 5000 }).catch((e: unknown) => {
      if (i >= 10) throw e;
      return k.sleep(250).then(() => undefined);
    });
  }
  const long = first;

  let rounds = 0;
  let failures = 0;
  const longLoop = (async () => {
    while (!stop) {
      const m = messageOf(rounds);
      const echo = await guarded(long.write(m).then(() => readExactly(long, m.length))).catch(
        (e: unknown) => {
          fail(`round ${rounds}: ${String(e)}`);
          return null;
        },
      );
      if (!echo || !same(echo, m)) {
        failures++;
        if (echo !== null) fail(`round ${rounds}: ${echo ? "echo differs" : "no echo in 20 s"}`);
        if (long.state !== "ESTABLISHED") return; // gone: nothing more to measure on it
      }
      rounds++;
      if (rounds === 1) k.print(JSON.stringify({ phase: "running", localPort: long.localPort }));
      if (rounds % 10 === 0) await k.xenstore.write("data/rounds", String(rounds));
    }
  })();

  let conns = 0;
  let connFailures = 0;
  const connLoop = (async () => {
    for (let n = 0; !stop; n++) {
      const hello = new TextEncoder().encode(`hello ${n}`);
      const ok = await guarded(
        (async () => {
          const s = await k.net.connect(victim, 7);
          await s.write(hello);
          const ended = s.end();
          ended.catch(() => {}); // a reset fails the read below as well, and is counted there
          const back = await readExactly(s, hello.length + 1); // +1: the peer's FIN must follow
          await ended;
          return same(back, hello);
        })(),
      ).catch((e: unknown) => {
        fail(`connection ${n}: ${String(e)}`);
        return false;
      });
      if (ok) {
        conns++;
        await k.xenstore.write("data/conns", String(conns));
      } else {
        connFailures++;
        if (ok === undefined) fail(`connection ${n}: no echo in 20 s`);
      }
    }
  })();

  await Promise.all([longLoop, connLoop]);
  await unwatch();
  await long.end().catch(() => {});
  k.print(JSON.stringify({ phase: "stopped", rounds, failures, conns, connFailures, errors }));
  await new Promise<never>(() => {}); // stay up: the test checks nobody crashed
}
