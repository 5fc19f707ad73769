/**
 * The bystanders of the hostile netback test: two honest guests on the attacker's bridge, using
 * their kernel's netfront (k.net) while the attacker goes at netback. `role=ping peer=<mac>` sends a
 * frame (a sequence number and bytes derived from it, 60..1514 bytes), waits for it to come back,
 * compares every byte and counts a round, publishing the count in xenstore (data/rounds) so the
 * test can watch it grow; `role=pong peer=<mac>` sends back every frame its peer sends, addresses
 * swapped. Frames from anyone else are ignored (the attacker's may be flooded here). When the test
 * writes data/stop, ping reports how many rounds failed (a frame lost or altered) and stays up.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

const TYPE = 0x88b5;
const macBytes = (m: string) => Uint8Array.from(m.split(":").map((h) => parseInt(h, 16)));
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

function frameOf(seq: number, dst: Uint8Array, src: Uint8Array): Uint8Array {
  const f = new Uint8Array(60 + ((seq * 7919) % (1514 - 60 + 1)));
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = TYPE >> 8;
  f[13] = TYPE & 0xff;
  new DataView(f.buffer).setUint32(14, seq);
  for (let i = 18; i < f.length; i++) f[i] = (seq * 13 + i * 29) & 0xff;
  return f;
}

export default async function main(k: KernelHandle): Promise<void> {
  const arg = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(k.cmdline)?.[1];
  const peer = macBytes(arg("peer")!);
  const eth = k.net.get("eth0");
  const me = macBytes(eth.mac);
  const fromPeer = (f: Uint8Array) => f.length >= 18 && same(f.subarray(6, 12), peer);

  if (arg("role") === "pong") {
    eth.onFrame((f) => {
      if (!fromPeer(f)) return;
      const back = f.slice();
      back.set(peer, 0);
      back.set(me, 6);
      void eth.send(back);
    });
    k.print(JSON.stringify({ phase: "running" }));
    await new Promise<never>(() => {});
  }

  let reply: ((f: Uint8Array) => void) | undefined;
  eth.onFrame((f) => fromPeer(f) && reply?.(f));
  let stop = false;
  const unwatch = await k.xenstore.watch("data/stop", () => {
    void k.xenstore.tryRead("data/stop").then((v) => (stop ||= v !== undefined));
  });
  let rounds = 0;
  let failures = 0;
  const errors: string[] = [];
  for (let seq = 0; !stop; seq++) {
    const sent = frameOf(seq, peer, me);
    const echo = await new Promise<Uint8Array | undefined>((resolve) => {
      reply = resolve;
      void eth.send(sent);
      // Until the peer has answered once, a lost first frame is just the pong not being up yet.
      void k.sleep(rounds === 0 ? 200 : 5000).then(() => resolve(undefined));
    });
    reply = undefined;
    const want = sent.slice();
    want.set(me, 0);
    want.set(peer, 6);
    if (!echo) {
      if (rounds === 0) continue;
      failures++;
      if (errors.length < 5) errors.push(`round ${rounds}: no echo`);
    } else if (!same(echo, want)) {
      failures++;
      if (errors.length < 5) errors.push(`round ${rounds}: echo differs`);
    }
    rounds++;
    if (rounds % 10 === 0) await k.xenstore.write("data/rounds", String(rounds));
    if (rounds === 1) k.print(JSON.stringify({ phase: "running" }));
  }
  await unwatch();
  k.print(JSON.stringify({ phase: "stopped", rounds, failures, errors }));
  await new Promise<never>(() => {}); // stay up: the test checks that nobody crashed
}
