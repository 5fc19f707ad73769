/**
 * The blk bench's guest (test/bench/blk.ts): reads its disk xvda through blkfront, the way a program
 * does (k.blk), in two phases the host starts one at a time by typing a line on the console, so it
 * can read the hypercall counters of both domains between phases:
 *
 *   "warm"    — "seq", untimed: the first pass through blkfront and blkback runs their code cold
 *               (V8 compiles it as it goes), as native's first pass does node:fs's, and the bench
 *               times neither side's first pass;
 *   "seq"     — the whole disk in order, `chunk` KiB per read() with `depth` reads in flight;
 *   "seqcopy" — the same, into the program's own buffers instead of the disk's shared ones;
 *   "rand"    — `n` reads of one 4 KiB block each at `qd` in flight, at the blocks blk-pattern.ts's
 *               seeded generator names (the native baseline reads the same ones);
 *   "off"     — power off.
 *
 * "seq" and "rand" read into buffers from `disk.buffer()`, whose pages dom0 reads the file into
 * (no copy in the guest), as a program that moves a lot of data would; "seqcopy" shows what a
 * plain Uint8Array costs: each byte copied once more, out of blkfront's grant pool.
 *
 * Each phase prints one JSON line: bytes, seconds, the latency of each read() (p50/p99, µs) and how
 * many blocks did not carry their own number (0, or the bench fails: a fast wrong disk is no win).
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { BLOCK, blocksStamped, randomBlocks } from "../blk-pattern.ts";

const arg = (cmdline: string, key: string, dflt: number): number =>
  Number(new RegExp(`(?:^|\\s)${key}=(\\d+)`).exec(cmdline)?.[1] ?? dflt);

function summary(lat: number[]): { p50: number; p99: number } {
  const s = lat.sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length / 2)] ?? NaN, p99: s[Math.floor(s.length * 0.99)] ?? NaN };
}

export default async function main(k: KernelHandle): Promise<void> {
  const disk = k.blk.get("xvda");
  const bytes = disk.sectors * 512;
  const chunk = arg(k.cmdline, "chunk", 1024) * 1024;
  const depth = arg(k.cmdline, "depth", 4);
  const n = arg(k.cmdline, "n", 10000);
  const qd = arg(k.cmdline, "qd", 32);
  const seed = arg(k.cmdline, "seed", 1);

  /** `workers` loops, each taking the next job until `next` says there is none. */
  async function run(workers: number, size: number, next: () => number | undefined, shared = true) {
    const lat: number[] = [];
    let bad = 0;
    let moved = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: workers }, async () => {
        const buf = shared ? disk.buffer(size) : new Uint8Array(size);
        try {
          for (let off = next(); off !== undefined; off = next()) {
            const b = buf.subarray(0, Math.min(size, bytes - off));
            const t = performance.now();
            await disk.read(off / 512, b);
            lat.push((performance.now() - t) * 1000);
            if (!blocksStamped(b, off)) bad++;
            moved += b.length;
          }
        } finally {
          disk.release(buf); // the next phase's buffers reuse its pages
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { bytes: moved, seconds, reads: lat.length, ...summary(lat), bad };
  }

  k.print(`blk-bench: ready, ${bytes} bytes, ${disk.sectors} sectors`);
  for (;;) {
    const cmd = (await k.console.readline()).trim();
    try {
      await phase(cmd);
    } catch (e) {
      // The bench waits for this line: say what failed instead of leaving it waiting.
      k.print(JSON.stringify({ phase: cmd, error: String(e) }));
    }
  }

  async function phase(cmd: string): Promise<void> {
    if (cmd === "seq" || cmd === "seqcopy" || cmd === "warm") {
      let pos = 0;
      const next = () => (pos < bytes ? ((pos += chunk), pos - chunk) : undefined);
      const r = await run(depth, chunk, next, cmd !== "seqcopy");
      k.print(JSON.stringify({ phase: cmd, ...r }));
    } else if (cmd === "rand") {
      const block = randomBlocks(seed, Math.floor(bytes / BLOCK));
      let left = n;
      const r = await run(qd, BLOCK, () => (left-- > 0 ? block() * BLOCK : undefined));
      k.print(JSON.stringify({ phase: "rand", ...r }));
    } else if (cmd === "off") {
      await k.shutdown("poweroff");
    }
  }
}
