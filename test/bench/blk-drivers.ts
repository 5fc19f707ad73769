/**
 * blkfront and blkback alone, for profiling: both drivers in one process over a real image file
 * (test/drivers/blk-harness.ts plays the hypervisor), no domains, no events between threads. What
 * is left is the drivers' own cost per read and dom0's system call, which `node --cpu-prof` can see:
 *
 *   npx tsx test/bench/blk-drivers.ts random 200000   # 4 KiB reads at random blocks, 32 in flight
 *   npx tsx test/bench/blk-drivers.ts seq 4096        # 1 MiB reads in order, 4 in flight, into lent buffers
 *   node --cpu-prof --import tsx test/bench/blk-drivers.ts random 200000
 *
 * Set beside `pnpm bench blk` (the same reads between a guest and dom0) it says how much of a
 * read's cost is the drivers and how much the crossings between threads: on the development
 * machine 126-147 k random reads a second here, half of each the preadv2 call, against 34-41 k
 * between domains, and 8 GB/s of sequential reads against 2.1 (docs/block.md, "Performance").
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { attach } from "../drivers/blk-harness.ts";

const mode = process.argv[2] === "seq" ? "seq" : "random";
const reads = Number(process.argv[3] ?? (mode === "seq" ? 4096 : 200_000));
const IMAGE_MIB = 64;
const chunk = mode === "seq" ? 1 << 20 : 4096;
const inFlight = mode === "seq" ? 4 : 32;

const dir = mkdtempSync(join(tmpdir(), "pvkit-blk-drivers-"));
try {
  const path = join(dir, "disk.img");
  writeFileSync(path, new Uint8Array(IMAGE_MIB << 20).fill(3)); // written, so in the page cache
  const a = await attach(path);
  await a.back.start();
  await a.front.connect({ poolPages: 512, sharedPages: 1024 }); // four 1 MiB lent buffers
  const q = a.front.queue;
  const blocks = (IMAGE_MIB << 20) / chunk;
  let next = 0;
  let seed = 12345;
  const at = () => {
    if (mode === "seq") return next++ % blocks;
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % blocks;
  };
  let left = reads;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      const buf = mode === "seq" ? a.front.buffer(chunk)! : new Uint8Array(chunk);
      while (left-- > 0) await q.read((at() * chunk) / 512, buf);
    }),
  );
  const s = (performance.now() - t0) / 1000;
  console.log(
    mode === "seq"
      ? `${reads} reads of 1 MiB in one process: ${((reads * chunk) / 2 ** 20 / s).toFixed(0)} MiB/s`
      : `${reads} random 4 KiB reads in one process: ${(reads / s / 1000).toFixed(1)} k/s`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
