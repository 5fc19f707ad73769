/**
 * The toolstack create bench's guest (test/bench/domain-create.ts): its main() prints one JSON line
 * as its first statement, which the bench reads on the domain's console through dom0, and then waits
 * to be destroyed.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  k.print(JSON.stringify({ phase: "main" }));
  await new Promise<never>(() => {});
}
