/**
 * A guest that cuts the C heap under it into thousands of free page-sized blocks, then idles. Each
 * 8 KiB array's bytes are malloc'd (V8 keeps only arrays of up to 64 bytes in its own heap); keeping
 * every other one leaves the freed ones between live neighbours, where glibc cannot give them back
 * from an arena's top. `malloc_trim` then walks and `madvise`s each of them while it holds the
 * arena's lock, so the more there are, the longer every thread that allocates in that arena waits:
 * with cells off, the hypervisor's own thread among them.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  const blocks = Number(/blocks=(\d+)/.exec(k.cmdline)?.[1] ?? 4000);
  let all: Uint8Array[] | undefined = [];
  for (let i = 0; i < blocks; i++) all.push(new Uint8Array(8192).fill(i & 0xff));
  const kept = all.filter((_, i) => i % 2 === 0);
  all = undefined; // the collector frees the other half's bytes: free blocks between live ones
  k.print(`fragment: up, ${kept.length} of ${blocks} blocks kept`);
  // Idle for good, holding the live half so the holes stay holes: the line after the wait, never
  // reached, is what keeps `kept` alive.
  await new Promise<void>(() => {});
  k.print(String(kept.length));
}
