/**
 * `pnpm bench`: every pvkit benchmark in one run, each metric's median beside its native baseline
 * measured in the same run, printed as one table and written to bench-results/<date>.json. Metrics
 * that involve real domains are taken twice: domUs in cells (the default: a process each) and with
 * cells off (workers of the host's process), so the price of the process boundary is in the table.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { benchDomainCreate } from "./domain-create.ts";
import { benchEventDomains } from "./event-domains.ts";
import { benchEventLatency } from "./event-latency.ts";
import { benchHypercall } from "./hypercall.ts";
import type { BenchRow } from "./stats.ts";

const rows: BenchRow[] = [];
/** Says on stderr what runs now (a run takes minutes). */
const stage = (what: string) => process.stderr.write(`bench: ${what}\n`);
/** The bench in cells, then with cells off (its rows marked). */
async function bothWays(name: string, bench: (cells: boolean) => Promise<BenchRow[]>): Promise<void> {
  stage(name);
  rows.push(...(await bench(true)));
  stage(`${name} (cells off)`);
  rows.push(...(await bench(false)).map((r) => ({ ...r, metric: `${r.metric} (cells off)` })));
}

await bothWays("null hypercall", benchHypercall);
stage("event latency");
for (const m of await benchEventLatency()) {
  rows.push({
    metric: m.name,
    unit: "µs",
    median: m.median,
    p99: m.p99,
    baseline: { name: m.baseline.name, median: m.baseline.median },
  });
}
await bothWays("event round trip between two domains", benchEventDomains);
await bothWays("domain creation", (cells) => benchDomainCreate(cells));

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const table = rows.map((r) => ({
  metric: r.metric,
  median: `${fmt(r.median)} ${r.unit}`,
  p99: r.p99 === undefined ? "" : `${fmt(r.p99)} ${r.unit}`,
  baseline: r.baseline ? `${fmt(r.baseline.median)} ${r.unit} (${r.baseline.name})` : "",
  ratio: r.baseline ? `${(r.median / r.baseline.median).toFixed(1)}×` : "",
}));
console.table(table);
mkdirSync("bench-results", { recursive: true });
const file = `bench-results/${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
writeFileSync(
  file,
  JSON.stringify(
    { node: process.version, cpus: (await import("node:os")).availableParallelism(), rows },
    null,
    2,
  ),
);
console.log(`written to ${file}`);
process.exit(0);
