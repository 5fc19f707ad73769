/** A minimal guest program: print, sleep through the timer, print again, return (poweroff). */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  k.print(`smoke: hello from domain ${k.domid}`);
  const t0 = k.time.uptimeMs();
  await k.sleep(30);
  k.print(`smoke: slept ${Math.round(k.time.uptimeMs() - t0)} ms`);
}
