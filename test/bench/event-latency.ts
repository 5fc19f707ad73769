/**
 * Event-channel latency: EVTCHNOP_send -> the guest's handler runs -> the sender sees it, against a
 * real guest thread running the 2-level upcall loop, beside a bare Atomics ping-pong between the same
 * two threads (the floor any event path is built on). Busy: both sides spin; idle: both sleep in
 * Atomics.wait. Run alone with `tsx test/bench/event-latency.ts`, or import benchEventLatency().
 */
import { Worker } from "node:worker_threads";
import { pathToFileURL } from "node:url";
import { DOMID_SELF } from "@pvkit/hypervisor/evtchn/consts";
import { EventChannels } from "@pvkit/hypervisor/evtchn/evtchn";
import { FakeEvtchnHost } from "@pvkit/hypervisor/evtchn/fake_host";
import { CTL, FakeGuestVcpu } from "@pvkit/hypervisor/evtchn/fake_guest";

/** One measured metric: median and p99 in microseconds, with its native baseline's median. */
export interface LatencyMetric {
  name: string;
  unit: "us";
  median: number;
  p99: number;
  samples: number;
  baseline: { name: string; median: number; p99: number };
}

function stats(xs: number[]): { median: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: +at(0.5).toFixed(3), p99: +at(0.99).toFixed(3) };
}

/** Waits until ctl[slot] differs from `seen`: spinning (busy) or in Atomics.wait (idle). */
function awaitChange(ctl: Int32Array, slot: number, seen: number, busy: boolean): void {
  const limit = performance.now() + 1000;
  while (Atomics.load(ctl, slot) === seen) {
    if (!busy) Atomics.wait(ctl, slot, seen, 100);
    if (performance.now() > limit) throw new Error("event-latency: the guest stopped answering");
  }
}

/** Send -> handler -> observed, `n` times, after `warm` unmeasured rounds. */
async function eventRtt(busy: boolean, n: number, warm: number): Promise<number[]> {
  const host = new FakeEvtchnHost();
  const page = host.addDomain(1, 1);
  host.addDomain(0, 1);
  const ev = new EventChannels(host);
  const guest = new FakeGuestVcpu(page, { busy });
  host.onKick = () => guest.kick();
  await guest.ready;
  const port = ev.allocUnbound(1, false, DOMID_SELF, 0);
  const local = ev.bindInterdomain(0, 1, port);
  const out: number[] = [];
  try {
    for (let i = 0; i < warm + n; i++) {
      const seen = Atomics.load(guest.ctl, CTL.handled);
      const t0 = performance.now();
      ev.send(0, local);
      awaitChange(guest.ctl, CTL.handled, seen, busy);
      if (i >= warm) out.push((performance.now() - t0) * 1000);
    }
  } finally {
    await guest.stop();
  }
  return out;
}

const PONG = `
const { workerData, parentPort } = require("node:worker_threads");
const a = new Int32Array(workerData.buf);
parentPort.postMessage("ready");
let last = 0;
while (Atomics.load(a, 2) === 0) {
  const v = Atomics.load(a, 0);
  if (v !== last) { last = v; Atomics.store(a, 1, v); Atomics.notify(a, 1); continue; }
  if (!workerData.busy) Atomics.wait(a, 0, v, 50);
}`;

/** The bare floor: bump a word, the other thread echoes it, observe the echo. */
async function pingPong(busy: boolean, n: number, warm: number): Promise<number[]> {
  const a = new Int32Array(new SharedArrayBuffer(16));
  const w = new Worker(PONG, { eval: true, workerData: { buf: a.buffer, busy } });
  await new Promise((r) => w.once("message", r));
  const out: number[] = [];
  try {
    for (let i = 1; i <= warm + n; i++) {
      const t0 = performance.now();
      Atomics.store(a, 0, i);
      Atomics.notify(a, 0);
      awaitChange(a, 1, i - 1, busy);
      if (i > warm) out.push((performance.now() - t0) * 1000);
    }
  } finally {
    Atomics.store(a, 2, 1);
    Atomics.notify(a, 0);
    await w.terminate();
  }
  return out;
}

/** Runs the four measurements. `scale` < 1 shortens them (for a smoke test). */
export async function benchEventLatency(scale = 1): Promise<LatencyMetric[]> {
  const busyN = Math.max(200, Math.round(20000 * scale));
  const idleN = Math.max(100, Math.round(2000 * scale));
  const metrics: LatencyMetric[] = [];
  for (const [mode, n] of [
    ["busy", busyN],
    ["idle", idleN],
  ] as const) {
    const busy = mode === "busy";
    const ev = await eventRtt(busy, n, Math.round(n / 10));
    const pp = await pingPong(busy, n, Math.round(n / 10));
    metrics.push({
      name: `event send->handler round trip (${mode})`,
      unit: "us",
      ...stats(ev),
      samples: n,
      baseline: { name: `Atomics ping-pong (${mode})`, ...stats(pp) },
    });
  }
  return metrics;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const metrics = await benchEventLatency(Number(process.env.BENCH_SCALE ?? 1));
  console.table(
    metrics.map((m) => ({
      metric: m.name,
      "median us": m.median,
      "p99 us": m.p99,
      baseline: m.baseline.name,
      "baseline median us": m.baseline.median,
      "baseline p99 us": m.baseline.p99,
    })),
  );
  console.log(JSON.stringify(metrics));
}
