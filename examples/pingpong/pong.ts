/**
 * pong: the server side of the ping-pong example. Waits for the toolstack to name its peer
 * (`data/peer`), serves a vchan to it, answers every "ping N" with "pong N", and every
 * "bulk N" (then N bytes) with "got N <checksum>", until "bye".
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { LineReader, Vchan, waitForNode } from "@pvkit/guest-kernel/lib/vchan";
import { checksum } from "./checksum.ts";

export default async function main(k: KernelHandle): Promise<void> {
  const peer = Number(await waitForNode(k, "data/peer"));
  k.print(`pong: serving a vchan to domain ${peer}`);
  const ch = await Vchan.listen(k, peer);
  const lines = new LineReader(ch);
  const enc = new TextEncoder();
  let served = 0;
  for (;;) {
    const line = await lines.next();
    if (line === "bye") break;
    const bulk = /^bulk (\d+)$/.exec(line);
    if (bulk) {
      // A block of bytes much larger than the ring: the writer waits for room as we read.
      const data = await lines.bytes(Number(bulk[1]));
      await ch.write(enc.encode(`got ${data.length} ${checksum(data)}\n`));
      continue;
    }
    const m = /^ping (\d+)$/.exec(line);
    if (!m) throw new Error(`pong: unexpected message "${line}"`);
    await ch.write(enc.encode(`pong ${m[1]}\n`));
    served++;
  }
  k.print(`pong: answered ${served} pings; bye`);
  ch.close();
}
