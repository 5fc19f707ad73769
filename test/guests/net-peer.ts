/**
 * One of two guests that exchange raw Ethernet frames through dom0's bridge (k.net). Its command
 * line names the peer's MAC and a frame count: `peer=00:16:3e:00:00:0b count=2000`. Both say hello
 * (broadcast) until each has heard the other, then each sends `count` frames of mixed sizes
 * (60..mtu+14 bytes, ethertype 0x88b5, a sequence number and a pattern derived from it) in windows of
 * 64, waiting for the peer's ack of each window, and checks every frame it receives: in order, none
 * missing, none altered. It prints one JSON line with what it saw, then powers off once the peer is
 * done too — or, with `hold=1`, stays up, so a test that reads its console after the exchange
 * still finds it there.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

const TYPE_DATA = 0x88b5;
const TYPE_HELLO = 0x88b6;
const TYPE_ACK = 0x88b7;
const TYPE_DONE = 0x88b8;
const WINDOW = 64;

const macBytes = (m: string) => Uint8Array.from(m.split(":").map((h) => parseInt(h, 16)));

function frame(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

/** The payload of data frame `seq`: its number, then bytes any corruption would change. */
function payloadOf(seq: number, mtu: number): Uint8Array {
  const len = 46 + ((seq * 7919) % (mtu - 46 + 1));
  const p = new Uint8Array(len);
  new DataView(p.buffer).setUint32(0, seq);
  for (let i = 4; i < len; i++) p[i] = (seq * 31 + i * 17) & 0xff;
  return p;
}

export default async function main(k: KernelHandle): Promise<void> {
  const arg = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(k.cmdline)?.[1];
  const peer = macBytes(arg("peer")!);
  const count = Number(arg("count") ?? "1000");
  const eth = k.net.get("eth0");
  const me = macBytes(eth.mac);
  const broadcast = new Uint8Array(6).fill(0xff);

  let heard = false;
  let nextExpected = 0;
  let bad = 0;
  let acked = 0;
  let peerDone = false;
  let wake = () => {};
  eth.onFrame((f) => {
    const type = (f[12]! << 8) | f[13]!;
    const body = f.subarray(14);
    if (type === TYPE_HELLO) {
      if (!heard) void eth.send(frame(peer, me, TYPE_HELLO, new Uint8Array(46)));
      heard = true;
    } else if (type === TYPE_DATA) {
      const seq = new DataView(body.buffer, body.byteOffset).getUint32(0);
      const want = payloadOf(seq, eth.mtu);
      if (seq !== nextExpected || body.length !== want.length || body.some((b, i) => b !== want[i])) bad++;
      nextExpected = seq + 1;
      if (nextExpected % WINDOW === 0 || nextExpected === count) {
        const ack = new Uint8Array(46);
        new DataView(ack.buffer).setUint32(0, nextExpected);
        void eth.send(frame(peer, me, TYPE_ACK, ack));
      }
    } else if (type === TYPE_ACK) {
      acked = Math.max(acked, new DataView(body.buffer, body.byteOffset).getUint32(0));
    } else if (type === TYPE_DONE) {
      peerDone = true;
    }
    wake();
  });
  const until = async (cond: () => boolean, resend?: () => void) => {
    while (!cond()) {
      resend?.();
      await Promise.race([new Promise<void>((r) => (wake = r)), k.sleep(resend ? 20 : 1000)]);
    }
  };

  await until(
    () => heard,
    () => void eth.send(frame(broadcast, me, TYPE_HELLO, new Uint8Array(46))),
  );
  const t0 = k.time.uptimeMs();
  for (let sent = 0; sent < count;) {
    const end = Math.min(count, sent + WINDOW);
    for (; sent < end; sent++) await eth.send(frame(peer, me, TYPE_DATA, payloadOf(sent, eth.mtu)));
    const target = sent;
    await until(() => acked >= target);
  }
  await until(() => nextExpected >= count);
  const ms = k.time.uptimeMs() - t0;
  k.print(
    JSON.stringify({
      phase: "done",
      mac: eth.mac,
      sent: count,
      received: nextExpected,
      bad,
      ms,
      stats: eth.stats(),
    }),
  );
  await until(
    () => peerDone,
    () => void eth.send(frame(peer, me, TYPE_DONE, new Uint8Array(46))),
  );
  // A last few DONEs in case ours was the one lost while the peer was still sending.
  for (let i = 0; i < 3; i++) await eth.send(frame(peer, me, TYPE_DONE, new Uint8Array(46)));
  if (arg("hold") === "1") await new Promise<never>(() => {});
}
