/**
 * The density bench's runner, small: five idle guests in each mode through the code path
 * `pnpm bench density --count 5` takes, every one answering its event; and the two ways it stops
 * early — the machine's free memory, and the hypervisor refusing admission — reported as results.
 */
import { describe, expect, it } from "vitest";
import { parseBenchArgs } from "./args.ts";
import { densityRows, runDensity } from "./density.ts";
import { runDensityApart } from "./density-apart.ts";

describe("pnpm bench density", () => {
  const args = parseBenchArgs(["density", "--count", "5"]);

  it("reads its command line", () => {
    expect(args.names).toEqual(["density"]);
    expect(args.density).toEqual({ count: 5, modes: [true, false], leaveFreeMiB: 2048, settleSeconds: 300 });
    expect(parseBenchArgs(["--quick"]).density.count).toBe(12);
    expect(parseBenchArgs([]).density.count).toBe(200); // every benchmark: the run's 10 minutes
    expect(parseBenchArgs(["density"]).density.count).toBe(1000);
    expect(parseBenchArgs(["density", "--no-cells", "--memory-bound", "512"]).density).toMatchObject({
      modes: [false],
      leaveFreeMiB: 512,
    });
    expect(() => parseBenchArgs(["densty"])).toThrow(/no benchmark named densty/);
    expect(() => parseBenchArgs(["--count", "0"])).toThrow(/--count wants a whole number/);
  });

  it.each(args.density.modes)(
    "starts the guests (cells: %s), measures them idle, and each answers",
    async (cells) => {
      const booted: number[] = [];
      const r = await runDensityApart(
        { cells, count: args.density.count, leaveFreeMiB: 0, idleSeconds: 1, settleSeconds: 1 },
        (up) => booted.push(up),
      );
      expect(booted.at(-1)).toBe(5);
      expect(r.stopped).toBe("count reached");
      expect(r.up).toBe(5);
      expect(r.answered).toBe(5);
      expect(r.answerMs.median).toBeGreaterThan(0);
      expect(r.memory.perGuestMiB).toBeGreaterThan(0);
      expect(["PSS", "RSS"]).toContain(r.memory.kind);
      // The bench's own process and, in cells, one process per guest at least.
      expect(r.memory.processes).toBeGreaterThanOrEqual(cells ? 6 : 1);
      expect(r.idle.cpuPercent).toBeGreaterThanOrEqual(0);
      expect(r.idle.settleCpuPercent).toHaveLength(1); // one window, cut to the 1 s asked for
      expect(r.idle.settleSeconds).toBe(1);
      expect(r.idle.wakeupsPerSecond).toBeGreaterThan(0);
      expect(densityRows(r).map((row) => row.metric)).toEqual(
        expect.arrayContaining([
          "density: guests answering an event",
          "density: host CPU, first 1 s after all up", // the window, cut to the settle asked for
        ]),
      );
    },
    120_000,
  );

  it("stops before the machine's free memory would fall under the bound, and says so", async () => {
    const r = await runDensity({ cells: false, count: 5, leaveFreeMiB: 1 << 30, idleSeconds: 0 });
    expect(r.up).toBe(0);
    expect(r.stopped).toMatch(/^the machine would keep less than 1073741824 MiB free/);
  }, 60_000);

  it("stops when the hypervisor refuses admission (ENOMEM), and every guest admitted answers", async () => {
    // 56 MiB of machine memory; each guest is promised 4 MiB and 12 MiB for its worker: 3 fit.
    const r = await runDensity({ cells: false, count: 10, leaveFreeMiB: 0, idleSeconds: 0, machineMiB: 56 });
    expect(r.stopped).toMatch(/^admission refused: ENOMEM/);
    expect(r.up).toBeGreaterThan(0);
    expect(r.up).toBeLessThan(4);
    expect(r.answered).toBe(r.up);
  }, 60_000);
});
