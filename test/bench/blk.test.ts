/**
 * The blk bench's runner, small: an 8 MiB image read by a real guest through blkfront and dom0's
 * blkback and by node:fs, through the code path `pnpm bench blk` takes. benchBlk fails if any block
 * either side read is not the block it asked for; here the rows must carry both domains' hypercall
 * counts and the native baseline of the same run.
 */
import { describe, expect, it } from "vitest";
import { parseBenchArgs } from "./args.ts";
import { benchBlk, blkOptions } from "./blk.ts";

describe("pnpm bench blk", () => {
  it("is a benchmark of its own and of every run, smaller with --quick", () => {
    expect(parseBenchArgs(["blk"]).names).toEqual(["blk"]);
    expect(parseBenchArgs([]).names).toContain("blk");
    expect(blkOptions(true)).toMatchObject({ imageMiB: 256, modes: [true] });
    expect(blkOptions(false)).toMatchObject({ imageMiB: 1024, modes: [true, false] });
  });

  it("reads the same disk in a guest and natively, every block right, and counts hypercalls", async () => {
    const rows = await benchBlk({
      imageMiB: 8,
      chunkKiB: 1024,
      depth: 4,
      randomReads: 500,
      queueDepth: 32,
      guestMiB: 32,
      modes: [false],
    });
    const row = (re: RegExp) => rows.find((r) => re.test(r.metric))!;
    expect(rows.every((r) => r.metric.endsWith("(cells off)"))).toBe(true);
    for (const r of [row(/sequential .* whole 8 MiB/), row(/random .* 500 reads/)]) {
      expect(r.median).toBeGreaterThan(0);
      expect(r.baseline?.median).toBeGreaterThan(0);
    }
    // Moving data means notifying the other end: both domains made hypercalls in both phases.
    for (const re of [/sequential.*guest hypercalls/, /sequential.*dom0 hypercalls/, /random.*guest hyper/])
      expect(row(re).median).toBeGreaterThan(0);
    expect(row(/random.*dom0 hypercalls/).median).toBeGreaterThan(0);
    expect(row(/read\(\) latency/).p99).toBeGreaterThanOrEqual(row(/read\(\) latency/).median);
  }, 120_000);
});
