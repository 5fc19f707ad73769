/**
 * `pvkit top`: xentop for a pvkit host. Every refresh it reads each domain's running totals (CPU
 * time, hypercalls, event sends: the hypervisor's counters, through the toolstack) and shows what
 * changed since the last reading as rates. The first screen already has rates: one reading is taken
 * before the first wait. On a terminal it redraws until q or Ctrl-C; `-b` prints each refresh plainly
 * to stdout instead, `-i n` stops after n of them (as `xentop -b -i n`).
 */
import type { Command } from "commander";
import type { DomainStats } from "@pvkit/abi/toolstack-protocol";
import { CliError, ControlClient } from "./client.ts";

interface TopOptions {
  delay: string;
  batch?: boolean;
  iterations?: string;
}

/** One row of the table: a domain now, with its rates over the last interval. */
export interface TopRow {
  name: string;
  state: string;
  cpuSeconds: number;
  cpuPercent: number;
  memKiB: number;
  maxmemKiB: number;
  vcpus: number;
  hypercallsPerSec: number;
  eventsPerSec: number;
}

/** Rows for `now`, rates against `before` (a domain new since then shows 0) over `seconds`. */
export function topRows(before: DomainStats[], now: DomainStats[], seconds: number): TopRow[] {
  const prev = new Map(before.map((d) => [d.domid, d]));
  return now.map((d) => {
    const p = prev.get(d.domid);
    const rate = (a: number, b: number) => (p && seconds > 0 ? Math.max(0, a - b) / seconds : 0);
    return {
      name: d.name,
      state: xentopState(d.state),
      cpuSeconds: d.time,
      cpuPercent: 100 * rate(d.time, p?.time ?? 0),
      memKiB: d.memory * 1024,
      maxmemKiB: d.maxmem * 1024,
      vcpus: d.vcpus,
      hypercallsPerSec: rate(d.hypercalls, p?.hypercalls ?? 0),
      eventsPerSec: rate(d.events, p?.events ?? 0),
    };
  });
}

/** xentop's six state positions, in its order: dying, shutdown, blocked, crashed, paused, running. */
function xentopState(letters: string): string {
  return "dsbcpr"
    .split("")
    .map((c) => (letters.includes(c) ? c : "-"))
    .join("");
}

/** xentop's table: names right-aligned, then one column a figure. */
export function formatTop(rows: TopRow[]): string {
  const w = Math.max(10, ...rows.map((r) => r.name.length));
  const cols: [string, number][] = [
    ["STATE", 6],
    ["CPU(sec)", 10],
    ["CPU(%)", 7],
    ["MEM(k)", 10],
    ["MAXMEM(k)", 10],
    ["VCPUS", 6],
    ["HC/s", 9],
    ["EV/s", 9],
  ];
  const line = (name: string, cells: string[]) =>
    name.padStart(w) + cells.map((c, i) => ` ${c.padStart(cols[i]![1])}`).join("");
  const head = line(
    "NAME",
    cols.map(([h]) => h),
  );
  const body = rows.map((r) =>
    line(r.name, [
      r.state,
      String(Math.floor(r.cpuSeconds)),
      r.cpuPercent.toFixed(1),
      String(r.memKiB),
      String(r.maxmemKiB),
      String(r.vcpus),
      r.hypercallsPerSec.toFixed(1),
      r.eventsPerSec.toFixed(1),
    ]),
  );
  return [head, ...body].join("\n") + "\n";
}

function parseOptions(o: TopOptions): { delayMs: number; iterations: number } {
  if (!/^\d+(\.\d+)?$/.test(o.delay) || Number(o.delay) <= 0 || Number(o.delay) > 3600)
    throw new CliError(`pvkit: top: --delay "${o.delay}": not a number of seconds from 0 to 3600`);
  if (o.iterations !== undefined && !/^[1-9]\d{0,8}$/.test(o.iterations))
    throw new CliError(
      `pvkit: top: --iterations "${o.iterations}": not a whole number of refreshes, 1 or more`,
    );
  return { delayMs: Number(o.delay) * 1000, iterations: o.iterations ? Number(o.iterations) : Infinity };
}

/** Resolves after `ms`, or at once when `quit` fires first. */
function pause(ms: number, quit: Promise<void>): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([new Promise<void>((r) => (t = setTimeout(r, ms))), quit]).finally(() =>
    clearTimeout(t),
  );
}

async function runTop(socket: string, o: TopOptions): Promise<void> {
  const { delayMs, iterations } = parseOptions(o);
  const c = await ControlClient.open(socket);
  const live = !o.batch;
  // q or Ctrl-C ends a live view (the tty is raw so single keys arrive); SIGINT ends either.
  let quitNow = () => {};
  let quitting = false;
  const quit = new Promise<void>((r) => (quitNow = () => ((quitting = true), r())));
  const stdin = process.stdin;
  const onKey = (b: Buffer) => {
    if (b.includes(0x71) || b.includes(0x51) || b.includes(0x03)) quitNow();
  };
  if (live && stdin.isTTY) {
    stdin.setRawMode(true);
    stdin.on("data", onKey).resume();
  }
  process.once("SIGINT", quitNow);
  try {
    let before = await c.request<DomainStats[]>({ op: "stats" });
    let t0 = performance.now();
    for (let i = 0; i < iterations && !quitting; i++) {
      await pause(delayMs, quit);
      if (quitting) break;
      const now = await c.request<DomainStats[]>({ op: "stats" });
      const t1 = performance.now();
      const table = formatTop(topRows(before, now, (t1 - t0) / 1000));
      if (live)
        process.stdout.write(
          `\x1b[H\x1b[2J${new Date().toTimeString().slice(0, 8)}  ${now.length} domains  (q quits)\n\n${table}`,
        );
      else process.stdout.write(table);
      [before, t0] = [now, t1];
    }
  } finally {
    process.off("SIGINT", quitNow);
    if (live && stdin.isTTY) {
      stdin.setRawMode(false);
      stdin.off("data", onKey).pause();
    }
    c.close();
  }
}

export function registerTop(program: Command, socketPath: () => string): void {
  program
    .command("top")
    .description("live view of the domains: CPU, memory, hypercalls and events per second (as `xl top`)")
    .option("-d, --delay <seconds>", "seconds between refreshes", "1")
    .option("-b, --batch", "print each refresh plainly to stdout, no screen redraw (as `xentop -b`)")
    .option("-i, --iterations <n>", "stop after n refreshes (default: until q or Ctrl-C)")
    .action((o: TopOptions) => runTop(socketPath(), o));
}
