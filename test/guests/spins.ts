/** A guest that never yields: no hypercall, no await. Only the hang watchdog can stop it. */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  k.print("spins: entering an endless loop");
  let x = 0;
  for (;;) x = (x + 1) | 0;
}
