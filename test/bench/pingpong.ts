/**
 * The native baseline for a hypercall: a plain Atomics round trip between a worker thread and the
 * main thread, with nothing else on the path. Busy: both sides spin; idle: both sleep in Atomics.wait
 * between rounds (the worker pauses 2 ms between requests, like the idle hypercall benchmark).
 * With the main thread asleep in Atomics.waitAsync instead, its event loop free as the trap service
 * sleeps, the difference is what going through the event loop costs a wake.
 */
import { Worker } from "node:worker_threads";
import { median, p99 } from "./stats.ts";

const WORKER = `
const { workerData, parentPort } = require("node:worker_threads");
const w = new Int32Array(workerData.sab);
const { n, busy, gapMs, warm } = workerData;
const out = [];
for (let i = 0; i < warm + n; i++) {
  if (gapMs) Atomics.wait(w, 3, 0, gapMs);
  const t0 = performance.now();
  Atomics.store(w, 0, i + 1);
  Atomics.notify(w, 0);
  while (Atomics.load(w, 1) !== i + 1) { if (!busy) Atomics.wait(w, 1, i, 50); }
  if (i >= warm) out.push((performance.now() - t0) * 1000);
}
parentPort.postMessage(out);
`;

/**
 * Round trips in µs. `mainWaits` says how the main thread sleeps when idle: "wait" (Atomics.wait,
 * its thread blocked) or "waitAsync" (its event loop free, as the trap service sleeps). The first
 * `warm` round trips are made and not timed.
 */
export async function pingPong(
  n: number,
  busy: boolean,
  gapMs = 0,
  mainWaits: "wait" | "waitAsync" = "wait",
  warm = 0,
): Promise<{ median: number; p99: number }> {
  const sab = new SharedArrayBuffer(16);
  const w = new Int32Array(sab);
  const worker = new Worker(WORKER, { eval: true, workerData: { sab, n, busy, gapMs, warm } });
  const done = new Promise<number[]>((r) => worker.once("message", r));
  for (let i = 0; i < warm + n; i++) {
    while (Atomics.load(w, 0) !== i + 1) {
      if (busy) continue;
      if (mainWaits === "wait") Atomics.wait(w, 0, i, 50);
      else {
        const r = Atomics.waitAsync(w, 0, i);
        if (r.async) await r.value;
      }
    }
    Atomics.store(w, 1, i + 1);
    Atomics.notify(w, 1);
  }
  const xs = await done;
  await worker.terminate();
  return { median: median(xs), p99: p99(xs) };
}

/**
 * A pvkit measurement with its native baselines around it: `round` (one run of each ping-pong the
 * rows compare with, one after another) once before `measure` and twice after, never beside it. The
 * rows take the middle of the three (baselineOf): on this kind of machine one run can land on a
 * moment when the two vCPUs are placed unusually (a spinning round trip of 0.19 µs in one run,
 * 0.62 µs in the next), and a ratio should not rest on it.
 */
export async function aroundNative<N, M>(
  round: () => Promise<N>,
  measure: () => Promise<M>,
): Promise<{ native: N[]; measured: M }> {
  const native = [await round()];
  const measured = await measure();
  native.push(await round(), await round());
  return { native, measured };
}

/** Native baselines taken more than once, so that one run on a noisy moment does not set the ratio. */
export interface Baselines {
  /** The middle run's median: the baseline. */
  median: number;
  /** Every run's median, in the order taken, for the note. */
  runs: number[];
}

/** The baseline from several runs of one ping-pong: the median of their medians. */
export function baselineOf(runs: { median: number }[]): Baselines {
  const medians = runs.map((r) => r.median);
  return { median: median(medians), runs: medians };
}

/** How the runs of a baseline read in a note: "0.52, 0.61, 0.19 µs". */
export const runsNote = (b: Baselines): string => `${b.runs.map((x) => x.toPrecision(2)).join(", ")} µs`;
