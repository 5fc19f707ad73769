/**
 * Null hypercall round trip, measured inside a real domain, busy and idle, beside the native
 * Atomics ping-pong of pingpong.ts from the same run, taken around the domain (aroundNative).
 */
import { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { aroundNative, baselineOf, pingPong, runsNote } from "./pingpong.ts";
import type { BenchRow } from "./stats.ts";

/**
 * @param cells whether the domain runs in a cell (a process of its own) or the host's process
 * @param scale fewer calls than the full run's (`pnpm bench --quick`)
 */
export async function benchHypercall(cells = true, scale = 1): Promise<BenchRow[]> {
  const busyN = Math.round(20000 * scale);
  const idleN = Math.round(300 * scale);
  // The idle calls' own warm-up (50 calls, 0.1 s), untimed on both sides.
  const idleWarm = 50;
  // One round of the native ping-pongs, one after another (side by side they would share the cores).
  const round = async () => ({
    busy: await pingPong(busyN, true),
    idle: await pingPong(idleN, false, 2, "wait", idleWarm),
    idleAsync: await pingPong(idleN, false, 2, "waitAsync", idleWarm),
  });
  const { native, measured } = await aroundNative(round, () => nullHypercalls(cells, busyN, idleN, idleWarm));
  const { busy, idle } = measured;
  const nativeBusy = baselineOf(native.map((r) => r.busy));
  const nativeIdle = baselineOf(native.map((r) => r.idle));
  const nativeIdleAsync = baselineOf(native.map((r) => r.idleAsync));
  return [
    {
      metric: "null hypercall, busy",
      unit: "µs",
      median: busy.median,
      p99: busy.p99,
      baseline: { name: "Atomics ping-pong, spinning", median: nativeBusy.median },
      note: `ping-pong runs: ${runsNote(nativeBusy)}`,
    },
    {
      metric: "null hypercall, idle",
      unit: "µs",
      median: idle.median,
      p99: idle.p99,
      baseline: { name: "Atomics ping-pong, waiting", median: nativeIdle.median },
      // The trap service sleeps with its thread's event loop free: what that alone costs a wake.
      note:
        `ping-pong runs: ${runsNote(nativeIdle)}; ` +
        `with the main thread in Atomics.waitAsync: ${nativeIdleAsync.median.toFixed(0)} µs`,
    },
  ];
}

type Summary = { median: number; p99: number };

/** The guest's own timings of its null hypercalls (guests/null-hypercall.ts), in a fresh hypervisor. */
async function nullHypercalls(
  cells: boolean,
  busyN: number,
  idleN: number,
  idleWarm: number,
): Promise<{ busy: Summary; idle: Summary }> {
  // Guests time themselves: give them the exact TSC (domUs get a coarse one by default).
  const hv = new Hypervisor({ tscResolutionNs: 0, cells }).boot();
  const d = hv.createDomain({
    name: "bench",
    memoryMiB: 8,
    kernel: new URL("./guests/null-hypercall.ts", import.meta.url).href,
    rings: false,
    cmdline: `busy=${busyN} idle=${idleN} idleWarm=${idleWarm}`,
  });
  await new Promise<void>((r) =>
    hv.on(
      "domain",
      (e: { domid: number; state: string }) => e.domid === d.domid && e.state === "shutdown" && r(),
    ),
  );
  const result = JSON.parse(hv.consoleLog(d.domid).trim()) as { busy: Summary; idle: Summary };
  await hv.close();
  return result;
}
