/**
 * A program that resumes from the realm's own timers (setTimeout, setImmediate, setInterval) — not
 * the kernel's k.sleep — and then calls into its kernel (xenstore, console) while the kernel's loop
 * sits in SCHEDOP_block. Each such call must end the block and go on: this once wedged a domU in a
 * cell for good (its wait for the block's end listened for a wake that had been sent another way).
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  const name = await k.xenstore.read("name");
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((r) => setTimeout(r, 20));
    k.print(`timeout ${i} ${await k.xenstore.read("name")}`);
    await new Promise<void>((r) => setImmediate(r));
    await k.xenstore.write("data/timer-calls", String(i));
  }
  let ticks = 0;
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      void k.xenstore.read("name").then(() => {
        if (++ticks === 5) {
          clearInterval(t);
          resolve();
        }
      });
    }, 15);
  });
  k.print(`timer-calls: done as ${name} after ${ticks} interval calls`);
}
