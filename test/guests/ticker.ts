/** A healthy guest that keeps making hypercalls: prints a tick every 50 ms, forever. */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  for (let i = 0; ; i++) {
    k.print(`tick ${i}`);
    await k.sleep(50);
  }
}
