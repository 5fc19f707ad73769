/**
 * The bystander of the hostile blkback test: an honest guest using its own disk through its kernel's
 * blkfront (k.blk) while another guest attacks the same backend. Round after round it writes 32 KiB
 * somewhere on xvda (victimRound in blk-images.ts), reads it back and compares, and publishes the
 * round count in xenstore (data/rounds) so the test can see it keep going. When the test writes
 * data/stop it reports how many rounds failed (an error or a byte that differs) and stays up.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { victimRound } from "./blk-images.ts";

export default async function main(k: KernelHandle): Promise<void> {
  const xvda = k.blk.get("xvda");
  let rounds = 0;
  let failures = 0;
  const errors: string[] = [];
  let stop = false;
  const unwatch = await k.xenstore.watch("data/stop", () => {
    void k.xenstore.tryRead("data/stop").then((v) => (stop ||= v !== undefined));
  });
  while (!stop) {
    const w = victimRound(rounds, xvda.sectors);
    const out = new Uint8Array(w.count * 512);
    for (let j = 0; j < out.length; j++) out[j] = w.byte(j);
    const back = new Uint8Array(out.length);
    try {
      await xvda.write(w.sector, out);
      await xvda.read(w.sector, back);
      if (!back.every((x, j) => x === out[j])) throw new Error(`round ${rounds}: read back differs`);
    } catch (e) {
      failures++;
      if (errors.length < 5) errors.push(String(e));
    }
    rounds++;
    await k.xenstore.write("data/rounds", String(rounds));
    if (rounds === 1) k.print(JSON.stringify({ phase: "running" }));
  }
  await unwatch();
  k.print(JSON.stringify({ phase: "stopped", rounds, failures, errors }));
  await new Promise<never>(() => {}); // stay up: the test checks that nobody crashed
}
