/**
 * Density: how many idle guests one host holds, and what an idle guest costs it.
 *
 * Starts idle 4 MiB guests (guests/idle-answer.ts: the pvkit kernel and a program that opens one
 * event-channel port and blocks) through Hypervisor.createDomain, a batch at a time, until
 *   - `count` are up, or
 *   - the next batch would leave the machine less than `leaveFreeMiB` of MemAvailable (each guest
 *     estimated from what the ones before it took), or
 *   - the hypervisor refuses one (admission: ENOMEM when the machine's memory is all promised), or
 *     a guest fails to boot.
 * Why it stopped is part of the result, not an error. Then, with every guest up and idle, it
 * measures the host: memory per guest (PSS of the bench's process — the hypervisor's — and every
 * process it started; proc-stats.ts says why PSS), and CPU and wake-ups over `idleSeconds` of
 * nobody doing anything. Then it sends each guest an event and waits for its answer, so a host
 * that got quieter by starving its guests would show here. Last, one more guest makes null
 * hypercalls with all the others up (guests/null-hypercall.ts): the trap service must find a busy
 * guest's traps at the same cost however many idle ones there are.
 */
import { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import type { Domain } from "@pvkit/hypervisor/domain/domain";
import { cpuBetween, cpuOf, memAvailableMiB, memoryOf, processTree } from "./proc-stats.ts";
import { median, p99, type BenchRow } from "./stats.ts";
import { guarded } from "./hang-guard.ts";

const GUEST = new URL("./guests/idle-answer.ts", import.meta.url).href;
const NULL_HYPERCALLS = new URL("./guests/null-hypercall.ts", import.meta.url).href;
const GUEST_MIB = 4;
/** Hang guard for one guest's boot or answer: far beyond what either takes on a loaded machine. */
const HANG_MS = 60_000;
/**
 * The host's CPU is read in windows of this many seconds while it settles, and the windows are part
 * of the result: what the guests' start costs after the last is up (first window) and how long the
 * host takes to become idle are results too, not only the idle cost after it.
 */
const SETTLE_WINDOW_S = 10;
/**
 * The host counts as settled after two windows in a row under this much CPU (% of a core: the
 * idle goal). No relative test will do: with a thousand guests the reducers' work is bounded by the
 * CPU, so the host sits at 50 % for half a minute before it falls.
 */
const SETTLED_PERCENT = 5;

export interface DensityOptions {
  cells: boolean;
  /** Guests to start. */
  count: number;
  /** MiB of MemAvailable that must remain. */
  leaveFreeMiB: number;
  /** Length of the idle measurement. */
  idleSeconds: number;
  /**
   * The longest the host is let settle first (default 0), in SETTLE_WINDOW_S windows until it is
   * settled (SETTLED_PERCENT). A guest that just printed it is up is not idle yet: its isolate's V8
   * runs the memory reducer — up to three full collections, 30 to 90 s after the isolate started,
   * about 60 ms of CPU a guest — and a thousand guests' reducers, sharing two cores and V8's four
   * helper threads, keep the host busy for a minute or two after the last is up.
   */
  settleSeconds?: number;
  /** The hypervisor's machine memory in MiB (default: its own default, most of the host's RAM). */
  machineMiB?: number;
  /** Guests created before waiting for them to boot (default: 8 in cells, 16 without). */
  batch?: number;
  /** Told how many guests are up so far. */
  progress?: (up: number) => void;
}

type Part = "hypervisor" | "cells" | "other";
type IdleCost = { cpuPercent: number; wakeupsPerSecond: number };

export interface DensityResult {
  cells: boolean;
  target: number;
  up: number;
  /** "count reached", or why no more guests were started. */
  stopped: string;
  createSeconds: number;
  memory: { kind: "PSS" | "RSS"; totalMiB: number; perGuestMiB: number; processes: number };
  /** The host while every guest idles: all its processes, and split into the bench's own process
   * (the hypervisor), the cells, and the rest (esbuild's services: tsx's, and the image builder's). */
  idle: {
    seconds: number;
    /** How long the host was let settle (s), and whether it did (SETTLED_PERCENT) or time ran out. */
    settleSeconds: number;
    settled: boolean;
    /** The whole host's CPU (% of a core) in each window of the settling, in order. */
    settleCpuPercent: number[];
    /** Each window's length (s): SETTLE_WINDOW_S, the last cut short by the settling's limit. */
    settleWindowSeconds: number[];
    cpuPercent: number;
    wakeupsPerSecond: number;
    parts: Record<Part, IdleCost>;
  };
  /** Guests that answered an event, and how long each answer took (send → console line), in ms. */
  answered: number;
  answerMs: { median: number; p99: number };
  /**
   * A null hypercall (µs) of one more guest, back to back and after 2 ms pauses, with `idleUp` idle
   * guests up (all of them, or one fewer when the machine had no room left for it).
   */
  hypercallUs: { busy: Spread; idle: Spread; idleUp: number };
}

type Spread = { median: number; p99: number };

/** Waits for console text and domain ends, without polling: the hypervisor tells (consoleSink). */
class Watcher {
  private readonly waiters = new Map<number, { text: string; ok: () => void; fail: (e: Error) => void }>();
  hv!: Hypervisor;

  /** The hypervisor's console sink: a domain wrote; whoever waits on it looks. */
  wrote = (domid: number) => this.check(domid);

  /** The domain ended: whoever waits on it hears why. */
  ended = (e: { domid: number; state: string; why?: string }) => {
    const w = this.waiters.get(e.domid);
    if (!w || (e.state !== "shutdown" && e.state !== "destroyed")) return;
    this.waiters.delete(e.domid);
    w.fail(new Error(`dom${e.domid} ${e.state}${e.why ? ` (${e.why})` : ""}`));
  };

  /** Resolves once `domid`'s console holds `text`. */
  until(domid: number, text: string): Promise<void> {
    const p = new Promise<void>((ok, fail) => this.waiters.set(domid, { text, ok, fail }));
    this.check(domid);
    return guarded(p, HANG_MS, () => `dom${domid} said nothing for ${HANG_MS / 1000} s`).finally(() =>
      this.waiters.delete(domid),
    );
  }

  private check(domid: number): void {
    const w = this.waiters.get(domid);
    if (w && this.hv.consoleLog(domid).includes(w.text)) {
      this.waiters.delete(domid);
      w.ok();
    }
  }
}

/** Why a createDomain threw, in words: admission's ENOMEM is a result of the bench. */
function refusal(e: unknown, hv: Hypervisor): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (!/errno 12\b/.test(msg)) return `create failed: ${msg}`;
  const mib = (pages: number) => Math.floor(pages / 256);
  return (
    `admission refused: ENOMEM (${mib(hv.memory.freePages)} of ${mib(hv.memory.totalPages)} MiB of ` +
    `machine memory unpromised; a guest takes ${GUEST_MIB} MiB and its runtime's reserve)`
  );
}

export async function runDensity(o: DensityOptions): Promise<DensityResult> {
  const watch = new Watcher();
  const hv = new Hypervisor({
    cells: o.cells,
    consoleSink: watch.wrote,
    tscResolutionNs: 0, // the hypercall guest times itself
    ...(o.machineMiB ? { memoryMiB: o.machineMiB } : {}),
  }).boot();
  watch.hv = hv;
  hv.on("domain", watch.ended);
  const batch = o.batch ?? (o.cells ? 8 : 16);
  const guests: Domain[] = [];
  let stopped = "count reached";
  try {
    const memBefore = memoryOf(processTree());
    const availAtStart = memAvailableMiB();
    const t0 = performance.now();
    create: while (guests.length < o.count) {
      // What one guest costs the machine, from what the ones so far took (a guess for the first).
      const perGuest = guests.length > 0 ? (availAtStart - memAvailableMiB()) / guests.length : 64;
      const n = Math.min(batch, o.count - guests.length);
      const avail = memAvailableMiB();
      if (avail - n * Math.max(perGuest, 1) < o.leaveFreeMiB) {
        stopped =
          `the machine would keep less than ${o.leaveFreeMiB} MiB free ` +
          `(MemAvailable ${avail} MiB, ~${Math.ceil(perGuest)} MiB a guest)`;
        break;
      }
      const made: Domain[] = [];
      for (let i = 0; i < n; i++) {
        try {
          made.push(
            hv.createDomain({ name: `idle${guests.length + i}`, memoryMiB: GUEST_MIB, program: GUEST }),
          );
        } catch (e) {
          stopped = refusal(e, hv);
          break;
        }
      }
      const booted = await Promise.allSettled(made.map((d) => watch.until(d.domid, "idle: up")));
      for (const [i, r] of booted.entries()) {
        if (r.status === "fulfilled") guests.push(made[i]!);
        else if (stopped === "count reached")
          stopped = `a guest did not boot: ${(r.reason as Error).message}`;
      }
      o.progress?.(guests.length);
      if (stopped !== "count reached") break create;
    }
    const createSeconds = (performance.now() - t0) / 1000;

    // All up: the processes that make the host now, measured while nothing happens.
    const settling = await settle(o.settleSeconds ?? 0);
    const tree = processTree();
    const mem = memoryOf(tree);
    const cellPids = new Set(guests.map((d) => d.worker?.pid));
    const parts: Record<Part, number[]> = {
      hypervisor: [process.pid],
      cells: tree.filter((pid) => cellPids.has(pid)),
      other: tree.filter((pid) => pid !== process.pid && !cellPids.has(pid)),
    };
    const partNames = Object.keys(parts) as Part[];
    const cpuBefore = partNames.map((p) => cpuOf(parts[p]));
    await new Promise((r) => setTimeout(r, o.idleSeconds * 1000));
    const costs = partNames.map((p, i) => cpuBetween(cpuBefore[i]!, cpuOf(parts[p])));
    const idle = {
      cpuPercent: costs.reduce((sum, c) => sum + c.cpuPercent, 0),
      wakeupsPerSecond: costs.reduce((sum, c) => sum + c.wakeupsPerSecond, 0),
      parts: Object.fromEntries(partNames.map((p, i) => [p, costs[i]!])) as Record<Part, IdleCost>,
    };

    // Every guest must still answer: one event each, one at a time, its answer timed.
    const answers: number[] = [];
    for (const d of guests) {
      const port = Number(/port (\d+)/.exec(hv.consoleLog(d.domid))?.[1]);
      const sender = hv.evtchn.bindInterdomain(d.domid, d.domid, port);
      if (sender < 0) continue;
      const t = performance.now();
      hv.evtchn.send(d.domid, sender);
      try {
        await watch.until(d.domid, "answer 1");
        answers.push(performance.now() - t);
      } catch {
        /* counted as not answered */
      }
    }
    const hypercallUs = await nullHypercalls(hv, watch, guests);
    const MiB = 1024;
    return {
      cells: o.cells,
      target: o.count,
      up: guests.length,
      stopped,
      createSeconds,
      memory: {
        kind: mem.kind,
        totalMiB: mem.kib / MiB,
        perGuestMiB: guests.length > 0 ? (mem.kib - memBefore.kib) / MiB / guests.length : 0,
        processes: mem.processes,
      },
      idle: {
        seconds: o.idleSeconds,
        settleSeconds: settling.seconds.reduce((sum, s) => sum + s, 0),
        settled: settledIn(settling.cpuPercent),
        settleCpuPercent: settling.cpuPercent,
        settleWindowSeconds: settling.seconds,
        ...idle,
      },
      answered: answers.length,
      answerMs: { median: median(answers), p99: p99(answers) },
      hypercallUs,
    };
  } finally {
    await hv.close();
  }
}

/**
 * Waits until the host settled (two windows in a row under SETTLED_PERCENT) or `seconds` passed,
 * reading the whole host's CPU every SETTLE_WINDOW_S (the last window cut to what is left); returns
 * each window's length and %.
 */
async function settle(seconds: number): Promise<{ seconds: number[]; cpuPercent: number[] }> {
  const tree = processTree();
  const windows = { seconds: [] as number[], cpuPercent: [] as number[] };
  let last = cpuOf(tree);
  for (let waited = 0; waited < seconds;) {
    const step = Math.min(SETTLE_WINDOW_S, seconds - waited);
    await new Promise((r) => setTimeout(r, step * 1000));
    waited += step;
    const now = cpuOf(tree);
    windows.seconds.push(step);
    windows.cpuPercent.push(cpuBetween(last, now).cpuPercent);
    last = now;
    if (settledIn(windows.cpuPercent)) break;
  }
  return windows;
}

/** Two full windows in a row under SETTLED_PERCENT. */
const settledIn = (cpuPercent: number[]) =>
  cpuPercent.length >= 2 && cpuPercent.slice(-2).every((c) => c < SETTLED_PERCENT);

/**
 * One guest's null hypercalls with every idle guest still up (its JSON line: guests/null-hypercall.ts).
 * On a machine admission filled, the last idle guest makes room for it (its memory is free once its
 * worker has exited: the create is retried until then).
 */
async function nullHypercalls(
  hv: Hypervisor,
  watch: Watcher,
  guests: Domain[],
): Promise<{ busy: Spread; idle: Spread; idleUp: number }> {
  const spec = {
    name: "hypercalls",
    memoryMiB: GUEST_MIB, // the idle guests' size: one of them makes room for it
    kernel: NULL_HYPERCALLS,
    rings: false,
    cmdline: "busy=20000 idle=300",
  };
  let d: Domain | undefined;
  let up = guests.length;
  const guard = Date.now() + HANG_MS;
  while (!d) {
    try {
      d = hv.createDomain(spec);
    } catch (e) {
      if (!/errno 12\b/.test(String(e)) || Date.now() > guard) throw e;
      if (up === guests.length && up > 0) hv.destroyDomain(guests[--up]!.domid);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await watch.until(d.domid, "}\n");
  const r = JSON.parse(hv.consoleLog(d.domid).trim()) as { busy: Spread; idle: Spread };
  return { ...r, idleUp: up };
}

/** The density result as rows of the bench's table. */
export function densityRows(r: DensityResult): BenchRow[] {
  const rows: BenchRow[] = [
    {
      metric: `density: idle ${GUEST_MIB} MiB guests up`,
      unit: "guests",
      median: r.up,
      note:
        `in ${r.createSeconds.toFixed(1)} s; ` +
        (r.stopped === "count reached" ? `all ${r.target} asked for` : `stopped: ${r.stopped}`),
    },
    {
      metric: "density: host memory per idle guest",
      unit: "MiB",
      median: r.memory.perGuestMiB,
      note: `${r.memory.kind} of ${r.memory.processes} processes, ${Math.round(r.memory.totalMiB)} MiB in all`,
    },
    {
      metric: `density: host CPU, all idle (${r.idle.seconds} s)`,
      unit: "% of a core",
      median: r.idle.cpuPercent,
      note:
        (Object.entries(r.idle.parts) as [string, IdleCost][])
          .map(([part, c]) => `${part} ${c.cpuPercent.toFixed(1)} %`)
          .join(", ") +
        `; after ${r.idle.settleSeconds} s of settling` +
        (r.idle.settled ? ` (two ${SETTLE_WINDOW_S} s windows under ${SETTLED_PERCENT} %)` : " (the limit)"),
    },
    ...(r.idle.settleCpuPercent.length > 0
      ? [
          {
            metric: `density: host CPU, first ${r.idle.settleWindowSeconds[0]} s after all up`,
            unit: "% of a core",
            median: r.idle.settleCpuPercent[0]!,
            note:
              `the guests' start, tailing off` +
              (r.idle.settleCpuPercent.length > 1
                ? "; then " +
                  r.idle.settleCpuPercent
                    .slice(1)
                    .map((c) => c.toFixed(1))
                    .join(", ") +
                  ` % in ${SETTLE_WINDOW_S} s windows`
                : ""),
          },
        ]
      : []),
    {
      metric: `density: host wake-ups, all idle`,
      unit: "/s",
      median: r.idle.wakeupsPerSecond,
      note: (Object.entries(r.idle.parts) as [string, IdleCost][])
        .map(([part, c]) => `${part} ${Math.round(c.wakeupsPerSecond)}`)
        .join(", "),
    },
    {
      metric: "density: guests answering an event",
      unit: "guests",
      median: r.answered,
      note: `of ${r.up} up`,
    },
  ];
  if (r.answered > 0)
    rows.push({
      metric: "density: event → guest's answer",
      unit: "ms",
      median: r.answerMs.median,
      p99: r.answerMs.p99,
    });
  for (const kind of ["busy", "idle"] as const)
    rows.push({
      metric: `density: null hypercall, ${kind}, ${r.hypercallUs.idleUp} idle guests up`,
      unit: "µs",
      median: r.hypercallUs[kind].median,
      p99: r.hypercallUs[kind].p99,
      note: `compare "null hypercall, ${kind}" (one guest alone)`,
    });
  return rows;
}
