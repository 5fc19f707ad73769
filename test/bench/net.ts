/**
 * `pnpm bench net`: domU → domU through dom0's bridge, on a real host (`pvkit up`'s startHost), two
 * guests running test/guests/net-bench.ts: 64 KiB TCP frames handed to netfront with TSO (dom0
 * cuts them into MSS-sized segments; Gbit/s of what the sender handed over), and 64-byte frames
 * (packets per second). Each run is timed by the receiver, first frame to last; the row is the
 * median (p50) of the runs. CPU: user + system time of the host's process and every process it
 * started (cells, so both guests and dom0), read from /proc over all the runs of a mode, per Gbit
 * moved (CPU-seconds per Gbit, which is also cores per Gbit/s) and per packet; and each domain's
 * hypercalls and event sends per frame (domain-counts.ts), which say how well the rings batch.
 * Baseline: memcpy in this process (TypedArray.set of the same sizes), the floor under any copy
 * the data path makes.
 */
import { resolve } from "node:path";
import { startBenchHost } from "./bench-host.ts";
import { countsSince, domainCounts, type DomainCounts } from "./domain-counts.ts";
import { cpuOf, processTree } from "./proc-stats.ts";
import { phase } from "./progress.ts";
import { median, type BenchRow } from "./stats.ts";

const GUEST = resolve(import.meta.dirname, "../guests/net-bench.ts");

interface Run {
  ms: number;
  bytes: number;
  frames: number;
}

/** Each domain's hypercalls and event sends over a mode's runs. */
interface Calls {
  tx: DomainCounts;
  dom0: DomainCounts;
  rx: DomainCounts;
}

interface ModeResult {
  runs: Run[];
  cpuSeconds: number;
  calls: Calls;
}

type Mode = "tso" | "small";

/**
 * Two guests on one bridge, through each mode in turn (`frames` per run, by mode): the receiver's
 * per-run lines, and the CPU the host used and each domain's counters while the mode ran. One host
 * and one pair of guests serve both modes: a host and two boots are seconds of a quick run.
 */
async function runModes(
  runs: number,
  frames: Record<Mode, number>,
  cells: boolean,
): Promise<Record<Mode, ModeResult>> {
  const host = await startBenchHost("net", cells);
  const followers: { close(): void }[] = [];
  try {
    const mac = { tx: "00:16:3e:be:00:01", rx: "00:16:3e:be:00:02" };
    const create = (role: "tx" | "rx") => {
      const peer = role === "tx" ? mac.rx : mac.tx;
      const config =
        `name = "${role}"\nkernel = "${GUEST}"\nmemory = 32\nvif = ['mac=${mac[role]}, bridge=pvbench']\n` +
        `extra = "role=${role} peer=${peer} runs=${runs} tso=${frames.tso} small=${frames.small}"\n`;
      return host.create(role, config);
    };
    const result: Run[] = [];
    let ready = 0;
    let onReady = () => {};
    let onDone = () => {};
    const rx = await create("rx");
    followers.push(
      await host.follow("rx", (o) => {
        if (o.phase === "ready") (ready++, onReady());
        if (o.phase === "run") result.push(o as unknown as Run);
        if (o.phase === "done") onDone();
      }),
    );
    const tx = await create("tx");
    followers.push(await host.follow("tx", (o) => o.phase === "ready" && (ready++, onReady())));
    await new Promise<void>((r) => ((onReady = () => ready >= 2 && r()), onReady()));
    const counters = () => domainCounts(host.request, [tx, 0, rx]);
    const run = async (mode: Mode): Promise<ModeResult> => {
      result.length = 0;
      const done = new Promise<void>((r) => (onDone = r));
      const callsBefore = await counters();
      const before = cpuOf(processTree());
      await host.xenstoreWrite(`/local/domain/${tx}/data/go`, mode);
      await done;
      const after = cpuOf(processTree());
      const [txCalls, dom0Calls, rxCalls] = countsSince(callsBefore, await counters());
      const calls = { tx: txCalls!, dom0: dom0Calls!, rx: rxCalls! };
      return { runs: [...result], cpuSeconds: after.cpuSeconds - before.cpuSeconds, calls };
    };
    return { tso: await run("tso"), small: await run("small") };
  } finally {
    for (const f of followers) f.close();
    await host.close();
  }
}

/** memcpy of `size` bytes, `n` times, in this process: bytes per second. */
function memcpyRate(size: number, n: number): number {
  const src = new Uint8Array(size).map((_, i) => i);
  const dst = new Uint8Array(size);
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      src[0] = i;
      dst.set(src);
    }
    samples.push((size * n) / ((performance.now() - t) / 1000));
  }
  return median(samples);
}

export async function benchNet(quick: boolean, cells = true): Promise<BenchRow[]> {
  const frames = quick ? { tso: 300, small: 10_000 } : { tso: 2000, small: 200_000 };
  const { tso, small } = await runModes(quick ? 3 : 5, frames, cells);
  const gbit = (r: Run) => (r.bytes * 8) / (r.ms / 1000) / 1e9;
  const pps = (r: Run) => r.frames / (r.ms / 1000);
  const tsoBits = tso.runs.reduce((n, r) => n + r.bytes * 8, 0) / 1e9;
  const smallFrames = small.runs.reduce((n, r) => n + r.frames, 0);
  const note = (m: ModeResult) => `${m.runs.length} runs`;
  /** Hypercalls and event sends per frame the sender handed over, by domain. */
  const perFrame = (m: ModeResult) => {
    const n = m.runs.reduce((k, r) => k + r.frames, 0);
    const f = (x: number) => (x / n).toFixed(x / n < 0.1 ? 3 : 2);
    const c = m.calls;
    return (
      `per frame: hypercalls tx ${f(c.tx.hypercalls)}, dom0 ${f(c.dom0.hypercalls)}, rx ${f(c.rx.hypercalls)}; ` +
      `event sends tx ${f(c.tx.events)}, dom0 ${f(c.dom0.events)}, rx ${f(c.rx.events)}`
    );
  };
  return [
    {
      metric: "net domU→domU, 64 KiB TSO frames",
      unit: "Gbit/s",
      median: median(tso.runs.map(gbit)),
      baseline: { name: "memcpy 64 KiB, in cache", median: (memcpyRate(65536, 20_000) * 8) / 1e9 },
      note: note(tso),
    },
    {
      metric: "net CPU per Gbit (TSO)",
      unit: "CPU-s/Gbit",
      median: tso.cpuSeconds / tsoBits,
      note: `${tso.cpuSeconds.toFixed(1)} CPU-s for ${tsoBits.toFixed(1)} Gbit; ${perFrame(tso)}`,
    },
    {
      metric: "net domU→domU, 64-byte frames",
      unit: "kpps",
      median: median(small.runs.map(pps)) / 1000,
      baseline: { name: "memcpy 64 B", median: memcpyRate(64, 2_000_000) / 64 / 1000 },
      note: note(small),
    },
    {
      metric: "net CPU per 64-byte frame",
      unit: "µs",
      median: (small.cpuSeconds / smallFrames) * 1e6,
      note: `${small.cpuSeconds.toFixed(1)} CPU-s for ${smallFrames} frames; ${perFrame(small)}`,
    },
  ];
}

/** The bench as `pnpm bench net` runs it: its progress line, then its rows. */
export async function benchNetRows(quick: boolean): Promise<BenchRow[]> {
  const p = phase("network: domU → domU through dom0's bridge (TSO and 64-byte frames)");
  try {
    return await benchNet(quick);
  } finally {
    p.done();
  }
}
