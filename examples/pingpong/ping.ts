/**
 * ping: the client side of the ping-pong example. Waits for the toolstack to name its peer
 * (`data/peer`), connects to the vchan that peer serves, sends `rounds` pings (from the command line,
 * `extra = "rounds=1000"`), each waiting for its pong, and prints the round-trip times; then sends a
 * 256 KiB block in one write (the ring holds 1 KiB: flow control) and checks pong's checksum of it.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { LineReader, Vchan, waitForNode } from "@pvkit/guest-kernel/lib/vchan";
import { checksum } from "./checksum.ts";

/** Bytes sent in one go after the pings: 256 rings' worth, so the writer waits for room often. */
const BULK_BYTES = 256 * 1024;

export default async function main(k: KernelHandle): Promise<void> {
  const rounds = Number(/(?:^|\s)rounds=(\d+)/.exec(k.cmdline)?.[1] ?? 100);
  const peer = Number(await waitForNode(k, "data/peer"));
  const ch = await Vchan.connect(k, peer);
  k.print(`ping: connected to domain ${peer}`);
  const lines = new LineReader(ch);
  const enc = new TextEncoder();
  const rtts: number[] = [];
  for (let i = 1; i <= rounds; i++) {
    const t0 = k.time.uptimeMs();
    await ch.write(enc.encode(`ping ${i}\n`));
    const reply = await lines.next();
    if (reply !== `pong ${i}`) throw new Error(`ping: sent ping ${i}, got "${reply}"`);
    rtts.push(k.time.uptimeMs() - t0);
  }
  const block = Uint8Array.from({ length: BULK_BYTES }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
  const t0 = k.time.uptimeMs();
  await ch.write(enc.encode(`bulk ${block.length}\n`));
  await ch.write(block);
  const got = await lines.next();
  const ms = k.time.uptimeMs() - t0;
  if (got !== `got ${block.length} ${checksum(block)}`) throw new Error(`ping: bulk answer "${got}"`);
  await ch.write(enc.encode("bye\n"));
  rtts.sort((a, b) => a - b);
  const us = (ms: number) => `${Math.round(ms * 1000)} µs`;
  k.print(
    `ping: ${rounds} round trips over the vchan: median ${us(rtts[rtts.length >> 1]!)}, ` +
      `p99 ${us(rtts[Math.floor(rtts.length * 0.99)]!)}`,
  );
  k.print(`ping: ${BULK_BYTES} bytes in one write, checksum matched: ${Math.round(ms)} ms`);
  ch.close();
}
