/**
 * Null hypercall round trip, measured inside a real domain, busy and idle, beside the native
 * Atomics ping-pong of pingpong.ts from the same run. The ping-pong runs three times, once before the
 * domain and twice after, and the middle of the three is the baseline: on this kind of machine one
 * run can land on a moment when the two vCPUs are placed unusually (a spinning round trip of 0.19 µs
 * in one run, 0.62 µs in the next), and a ratio should not rest on it.
 */
import { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { baselineOf, pingPong, runsNote } from "./pingpong.ts";
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
  const native = async () => ({
    busy: await pingPong(busyN, true),
    idle: await pingPong(idleN, false, 2, "wait", idleWarm),
    idleAsync: await pingPong(idleN, false, 2, "waitAsync", idleWarm),
  });
  const nativeRuns = [await native()];
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
  type S = { median: number; p99: number };
  const { busy, idle } = JSON.parse(hv.consoleLog(d.domid).trim()) as { busy: S; idle: S };
  await hv.close();
  nativeRuns.push(await native(), await native());
  const nativeBusy = baselineOf(nativeRuns.map((r) => r.busy));
  const nativeIdle = baselineOf(nativeRuns.map((r) => r.idle));
  const nativeIdleAsync = baselineOf(nativeRuns.map((r) => r.idleAsync));
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
