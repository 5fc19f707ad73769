/**
 * `pnpm bench tcp`: the guest kernel's TCP between two guests on one bridge (test/guests/tcp-bench.ts
 * on each, in cells), beside the host's own TCP over loopback (test/bench/tcp-native.ts) doing the
 * same in the same run.
 *
 * Bulk: one connection carries N MiB (256; 32 with --quick) from the client guest to the server
 * guest in 256 KiB writes, timed by the receiver from its first byte to the FIN; the row is the
 * median run in Gbit/s. CPU per Gbit is measured as `pnpm bench net` does: user + system time of
 * the host's process and every process it started (dom0 and both guests), over all the bulk runs.
 *
 * HTTP: the server guest's serveHttp answers GETs with a fixed small page on keep-alive connections;
 * the client guest's HttpClient keeps C connections (8) that each make one GET at a time, like wrk,
 * until Q requests have been made between them. Requests per second is the median run; latency is
 * each run's p50 and p99, their medians in the table; CPU per GET is the process tree's over the
 * HTTP runs. The baseline is node:http on both ends, driven by the same loops.
 *
 * Both sides warm up unmeasured first (one smaller transfer, some GETs), then run the same sizes.
 */
import { resolve } from "node:path";
import { startBenchHost } from "./bench-host.ts";
import { cpuOf, processTree } from "./proc-stats.ts";
import { phase } from "./progress.ts";
import { median, type BenchRow } from "./stats.ts";
import { benchTcpNative, type TcpBenchOptions, type TcpBenchResult } from "./tcp-native.ts";

const GUEST = resolve(import.meta.dirname, "../guests/tcp-bench.ts");
/** A guest that says nothing for this long is taken as stuck (a hang guard, not a deadline). */
const STALL_MS = 120_000;

export function tcpOptions(quick: boolean): TcpBenchOptions {
  return quick
    ? { runs: 3, mib: 16, conns: 8, requests: 1_000, warmupMib: 4, warmupRequests: 500 }
    : { runs: 5, mib: 256, conns: 8, requests: 20_000, warmupMib: 32, warmupRequests: 5_000 };
}

/** The two guests, bulk then HTTP, with the CPU the host's process tree spent on the bulk runs. */
export async function benchTcpGuests(o: TcpBenchOptions, cells = true): Promise<TcpBenchResult> {
  const host = await startBenchHost("tcp", cells);
  const result: TcpBenchResult = { bulk: [], http: [], bulkCpuSeconds: 0, httpCpuSeconds: 0 };
  const followers: { close(): void }[] = [];
  try {
    // Each phase the client reaches, and the error a guest reports, settle the one awaited next.
    const reached = new Map<string, () => void>();
    let failed: (e: Error) => void = () => {};
    let lastHeard = Date.now();
    const onLine = (o: Record<string, unknown>) => {
      lastHeard = Date.now();
      if (o.phase === "bulk") result.bulk.push({ ms: o.ms as number, bytes: o.bytes as number });
      else if (o.phase === "http") result.http.push(o as never);
      else if (o.phase === "error") failed(new Error(`a guest failed: ${String(o.message)}`));
      else if (o.phase === "done") result.stats = o.stats as TcpBenchResult["stats"];
      reached.get(String(o.phase))?.();
    };
    const until = (what: string) =>
      new Promise<void>((resolve, reject) => {
        const guard = setInterval(() => {
          if (Date.now() - lastHeard > STALL_MS)
            reject(new Error(`no word from the guests for ${STALL_MS / 1000} s (waiting for ${what})`));
        }, 1000);
        const end = () => (clearInterval(guard), reached.delete(what));
        reached.set(what, () => (end(), resolve()));
        failed = (e) => (end(), reject(e));
      });
    const guest = (name: string, ip: string, extra: string) =>
      `name = "${name}"\nkernel = "${GUEST}"\nmemory = 64\n` +
      `vif = ['ip=${ip}, bridge=pvbench-tcp']\nextra = "${extra}"\n`;
    const server = "10.77.0.2";
    const listening = until("listening");
    await host.create("tcp-server", guest("tcp-server", server, "role=server"));
    followers.push(await host.follow("tcp-server", onLine));
    await listening;
    const ready = until("ready");
    const client = await host.create(
      "tcp-client",
      guest(
        "tcp-client",
        "10.77.0.1",
        `role=client peer=${server} runs=${o.runs} mib=${o.mib} ` +
          `conns=${o.conns} requests=${o.requests} warm-mib=${o.warmupMib} warm-requests=${o.warmupRequests}`,
      ),
    );
    followers.push(await host.follow("tcp-client", onLine));
    await ready;

    const bulkDone = until("bulk-done");
    const before = cpuOf(processTree());
    await host.xenstoreWrite(`/local/domain/${client}/data/go-bulk`, "1");
    await bulkDone;
    result.bulkCpuSeconds = cpuOf(processTree()).cpuSeconds - before.cpuSeconds;

    const done = until("done");
    const httpBefore = cpuOf(processTree());
    await host.xenstoreWrite(`/local/domain/${client}/data/go-http`, "1");
    await done;
    result.httpCpuSeconds = cpuOf(processTree()).cpuSeconds - httpBefore.cpuSeconds;
    // Frames netback could not deliver (a guest's rx buffers and backlog full): a cause of resends.
    const bridges = await host.request<{ ports: { counters: { rxDropped: number } }[] }[]>({
      op: "network-list",
    });
    result.framesDropped = bridges.flatMap((b) => b.ports).reduce((n, p) => n + p.counters.rxDropped, 0);
    return result;
  } finally {
    for (const f of followers) f.close();
    await host.close();
  }
}

const gbit = (r: { ms: number; bytes: number }) => (r.bytes * 8) / (r.ms / 1000) / 1e9;

/** The table's rows from the guests' result and the loopback baseline's. */
export function tcpRows(o: TcpBenchOptions, guests: TcpBenchResult, native: TcpBenchResult): BenchRow[] {
  const bits = (r: TcpBenchResult) => r.bulk.reduce((n, b) => n + b.bytes * 8, 0) / 1e9;
  const rps = (r: TcpBenchResult) => median(r.http.map((h) => h.requests / (h.ms / 1000)));
  const p50 = (r: TcpBenchResult) => median(r.http.map((h) => h.p50));
  const p99 = (r: TcpBenchResult) => median(r.http.map((h) => h.p99));
  // Every GET of the HTTP phase, the one unmeasured GET per connection and run included.
  const gets = (r: TcpBenchResult) => r.http.reduce((n, h) => n + h.requests + o.conns, 0);
  const cpuPerGet = (r: TcpBenchResult) => (r.httpCpuSeconds / gets(r)) * 1e6;
  const c = guests.stats?.counters ?? {};
  const fast = c["tcp.fast-retransmits"] ?? 0;
  const timeouts = c["tcp.retransmit-timeouts"] ?? 0;
  const resent = (c["tcp.retransmitted-segments"] ?? 0) + fast;
  return [
    {
      metric: `tcp guest→guest bulk, 1 connection, ${o.mib} MiB`,
      unit: "Gbit/s",
      median: median(guests.bulk.map(gbit)),
      baseline: { name: "node:net loopback", median: median(native.bulk.map(gbit)) },
      note:
        `goal ≥ 5 Gbit/s; ${guests.bulk.length} runs; client resent ${resent} segments ` +
        `(${fast} fast retransmits, ${timeouts} timeouts), netback dropped ${guests.framesDropped ?? 0} frames`,
    },
    {
      metric: "tcp CPU per Gbit (bulk)",
      unit: "CPU-s/Gbit",
      median: guests.bulkCpuSeconds / bits(guests),
      baseline: { name: "node:net loopback", median: native.bulkCpuSeconds / bits(native) },
      note: `${guests.bulkCpuSeconds.toFixed(1)} CPU-s for ${bits(guests).toFixed(1)} Gbit`,
    },
    {
      metric: `http GETs, ${o.conns} keep-alive connections`,
      unit: "req/s",
      median: rps(guests),
      baseline: { name: "node:http loopback", median: rps(native) },
      note: `goal ≥ 0.5× loopback; ${guests.http.length} runs of ${o.requests} requests`,
    },
    {
      metric: "http GET latency",
      unit: "ms",
      median: p50(guests),
      p99: p99(guests),
      baseline: { name: "node:http loopback", median: p50(native) },
      note: `loopback p99 ${p99(native).toFixed(2)} ms`,
    },
    {
      metric: "http CPU per GET",
      unit: "µs",
      median: cpuPerGet(guests),
      baseline: { name: "node:http loopback", median: cpuPerGet(native) },
      note: `${guests.httpCpuSeconds.toFixed(1)} CPU-s for ${gets(guests)} GETs`,
    },
  ];
}

/** The bench as `pnpm bench tcp` runs it: its progress lines, then its rows. */
export async function benchTcpRows(quick: boolean): Promise<BenchRow[]> {
  const o = tcpOptions(quick);
  let p = phase(`tcp: guest → guest through dom0's bridge (${o.mib} MiB bulk, HTTP GETs)`);
  let guests: TcpBenchResult;
  try {
    guests = await benchTcpGuests(o);
  } finally {
    p.done();
  }
  p = phase("tcp: the same over the host's loopback (node:net, node:http)");
  try {
    return tcpRows(o, guests, await benchTcpNative(o));
  } finally {
    p.done();
  }
}
