/** A guest that allocates until its heap is exhausted (its worker's resourceLimits). */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  k.print("hogs: allocating");
  const keep: number[][] = [];
  for (;;) keep.push(new Array(1 << 20).fill(keep.length));
}
