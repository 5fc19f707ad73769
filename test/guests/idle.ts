/** A guest that boots, says so, and then sits idle in SCHEDOP_block (for density benchmarks). */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  k.print(`idle: up in domain ${k.domid}`);
  await new Promise<never>(() => {});
}
