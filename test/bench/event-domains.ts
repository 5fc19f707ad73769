/**
 * Event-channel round trip between two real domains (two worker threads, real hypercalls), busy and
 * idle, beside the native Atomics ping-pong between two threads from the same run. Each side first
 * makes `warm` round trips it does not time: the guests' path takes a few thousand round trips to
 * reach its speed (guests/event-pingpong.ts), the native one a few. The ping-pongs are taken
 * around the domains (aroundNative).
 */
import { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { aroundNative, baselineOf, pingPong, runsNote } from "./pingpong.ts";
import type { BenchRow } from "./stats.ts";

async function run(
  mode: "busy" | "idle",
  warm: number,
  n: number,
  cells: boolean,
): Promise<{ median: number; p99: number }> {
  // Guests time themselves: give them the exact TSC (domUs get a coarse one by default).
  const hv = new Hypervisor({ tscResolutionNs: 0, cells }).boot();
  const kernel = new URL("./guests/event-pingpong.ts", import.meta.url).href;
  const a = hv.createDomain({ name: "a", memoryMiB: 4, kernel, rings: false, paused: true });
  const b = hv.createDomain({ name: "b", memoryMiB: 4, kernel, rings: false, paused: true });
  const port = hv.evtchn.allocUnbound(a.domid, false, a.domid, b.domid);
  const cmd = new Map([
    [a, `role=a mode=${mode} warm=${warm} n=${n} port=${port}`],
    [b, `role=b mode=${mode} warm=${warm} n=${n} peer=${a.domid} remote=${port}`],
  ]);
  for (const [d, line] of cmd) new Uint8Array(d.p2m.get(0)!.buffer).set(new TextEncoder().encode(line), 128);
  const done = new Promise<void>((r) =>
    hv.on(
      "domain",
      (e: { domid: number; state: string }) => e.domid === a.domid && e.state === "shutdown" && r(),
    ),
  );
  hv.unpauseDomain(b.domid);
  hv.unpauseDomain(a.domid);
  await done;
  const out = hv.consoleLog(a.domid).trim();
  if (!out.startsWith("{"))
    throw new Error(
      `event-domains: domain a ended without a result: ${a.crashReason ?? ""}\n${out}\n${hv.log.slice(-5).join("\n")}`,
    );
  const result = JSON.parse(out) as { median: number; p99: number };
  await hv.close();
  return result;
}

/**
 * @param cells whether the domains run in cells (processes of their own) or the host's process
 * @param scale fewer round trips than the full run's (`pnpm bench --quick`)
 */
export async function benchEventDomains(cells = true, scale = 1): Promise<BenchRow[]> {
  // Busy: 20 000 round trips, the first tenth not timed. Idle: 3000 not timed, then 2000 (~0.5 s in
  // all); the first 500 idle round trips take 250-550 µs here, those after 2500 60-100 µs.
  const busyWarm = Math.round(2000 * scale);
  const busyN = Math.round(18000 * scale);
  const idleWarm = Math.round(3000 * Math.max(scale, 0.5));
  const idleN = Math.round(2000 * Math.max(scale, 0.25));
  const round = async () => ({
    busy: await pingPong(busyN, true, 0, "wait", busyWarm),
    idle: await pingPong(idleN, false, 0, "wait", idleWarm),
  });
  const { native, measured } = await aroundNative(round, async () => ({
    busy: await run("busy", busyWarm, busyN, cells),
    idle: await run("idle", idleWarm, idleN, cells),
  }));
  const { busy, idle } = measured;
  const nb = baselineOf(native.map((r) => r.busy));
  const ni = baselineOf(native.map((r) => r.idle));
  return [
    {
      metric: "event RTT between two domains, busy",
      unit: "µs",
      median: busy.median,
      p99: busy.p99,
      baseline: { name: "Atomics ping-pong, spinning", median: nb.median },
      note: `ping-pong runs: ${runsNote(nb)}`,
    },
    {
      metric: "event RTT between two domains, idle",
      unit: "µs",
      median: idle.median,
      p99: idle.p99,
      baseline: { name: "Atomics ping-pong, waiting", median: ni.median },
      note: `ping-pong runs: ${runsNote(ni)}`,
    },
  ];
}
