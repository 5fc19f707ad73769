/**
 * `pnpm bench`: every pvkit benchmark in one run (or those named: `pnpm bench density`), each
 * metric's median beside its native baseline measured in the same run, printed as one table and
 * written to bench-results/<date>.json. Metrics that involve real domains are taken twice: domUs in
 * cells (the default: a process each) and with cells off (workers of the host's process), so the
 * price of the process boundary is in the table. `--quick` runs everything shorter (args.ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { parseBenchArgs, USAGE, type BenchName } from "./args.ts";
import { benchDomainCreate } from "./domain-create.ts";
import { densityRows, type DensityResult } from "./density.ts";
import { runDensityApart } from "./density-apart.ts";
import { benchEventDomains } from "./event-domains.ts";
import { benchEventLatency } from "./event-latency.ts";
import { benchBlk, blkOptions } from "./blk.ts";
import { benchHypercall } from "./hypercall.ts";
import { phase } from "./progress.ts";
import type { BenchRow } from "./stats.ts";

let args;
try {
  args = parseBenchArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`bench: ${(e as Error).message}\n${USAGE}\n`);
  process.exit(1);
}
const { quick } = args;
const rows: BenchRow[] = [];
const densities: DensityResult[] = [];
const offRows = (rs: BenchRow[]) => rs.map((r) => ({ ...r, metric: `${r.metric} (cells off)` }));

/** The bench in cells, then with cells off (its rows marked). */
async function bothWays(name: string, bench: (cells: boolean) => Promise<BenchRow[]>): Promise<void> {
  let p = phase(name);
  rows.push(...(await bench(true)));
  p.done();
  p = phase(`${name} (cells off)`);
  rows.push(...offRows(await bench(false)));
  p.done();
}

const benches: Record<BenchName, () => Promise<void>> = {
  hypercall: () => bothWays("null hypercall", (cells) => benchHypercall(cells, quick ? 0.2 : 1)),
  "event-latency": async () => {
    const p = phase("event latency");
    for (const m of await benchEventLatency(quick ? 0.1 : 1)) {
      rows.push({
        metric: m.name,
        unit: "µs",
        median: m.median,
        p99: m.p99,
        baseline: { name: m.baseline.name, median: m.baseline.median },
      });
    }
    p.done();
  },
  "event-domains": () =>
    bothWays("event round trip between two domains", (cells) => benchEventDomains(cells, quick ? 0.1 : 1)),
  "domain-create": () =>
    bothWays("domain creation", (cells) =>
      benchDomainCreate(cells, quick ? 3 : 20, quick ? 5 : 20, args.createMemoryMiB),
    ),
  blk: async () => {
    const p = phase("block device: a guest's disk through blkfront and blkback, beside node:fs");
    rows.push(...(await benchBlk(blkOptions(quick))));
    p.done();
  },
  net: async () => void rows.push(...(await (await import("./net.ts")).benchNetRows(quick))),
  tcp: async () => void rows.push(...(await (await import("./tcp.ts")).benchTcpRows(quick))),
  density: async () => {
    for (const cells of args.density.modes) {
      const name = `density${cells ? "" : " (cells off)"}: up to ${args.density.count} idle guests`;
      const p = phase(name, args.density.count);
      let r: DensityResult;
      try {
        r = await runDensityApart(
          {
            cells,
            count: args.density.count,
            leaveFreeMiB: args.density.leaveFreeMiB,
            idleSeconds: quick ? 2 : 10,
            settleSeconds: args.density.settleSeconds,
          },
          (up) => p.update(up, "booted"),
        );
      } catch (e) {
        // Its host process died (the kernel's OOM killer, say): that is a result too.
        p.done();
        const row = { metric: "density: idle 4 MiB guests up", unit: "guests", median: NaN };
        const failed = { ...row, note: `failed: ${(e as Error).message}` };
        rows.push(cells ? failed : offRows([failed])[0]!);
        continue;
      }
      p.done();
      densities.push(r);
      rows.push(...(cells ? densityRows(r) : offRows(densityRows(r))));
    }
  },
};

const t0 = performance.now();
for (const name of args.names) await benches[name]();

const fmt = (x: number) =>
  Number.isInteger(x) || x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
const table = rows.map((r) => ({
  metric: r.metric,
  median: `${fmt(r.median)} ${r.unit}`,
  p99: r.p99 === undefined ? "" : `${fmt(r.p99)} ${r.unit}`,
  baseline: r.baseline ? `${fmt(r.baseline.median)} ${r.unit} (${r.baseline.name})` : "",
  // fmt, not toFixed(1): a ratio below 1 (blk's throughput beside native) needs its second digit.
  ratio: r.baseline ? `${fmt(r.median / r.baseline.median)}×` : "",
  note: r.note ?? "",
}));
console.table(table);
mkdirSync("bench-results", { recursive: true });
const file = `bench-results/${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
const result = {
  node: process.version,
  cpus: availableParallelism(),
  quick,
  benchmarks: args.names,
  seconds: Math.round((performance.now() - t0) / 1000),
  rows,
  ...(densities.length > 0 ? { density: densities } : {}),
};
writeFileSync(file, JSON.stringify(result, null, 2));
console.log(`written to ${file} (${result.seconds} s)`);
process.exit(0);
