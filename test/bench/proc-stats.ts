/**
 * What the host's processes cost, read from Linux's /proc: memory (PSS, or RSS where the kernel has
 * no smaps_rollup), CPU time and context switches, summed over the bench's own process — the
 * hypervisor runs in it — and every process it started (cells, the spare cell, esbuild's service).
 *
 * PSS, not RSS: cells are Node processes that share the executable's pages and the machine's memory
 * (one memfd, mapped by every cell for the frames it was handed). RSS counts a shared page once in
 * every process that touches it, so summing RSS over a thousand cells would count Node's code a
 * thousand times; PSS divides each page among the processes that map it, so the sum is what the
 * machine really spends.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc's utime and stime (getconf CLK_TCK; 100 on Linux). */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined; // the process (or thread) ended meanwhile
  }
}

/** A "Key:   123 kB" line of a /proc status-like file, in KiB. */
function kib(text: string | undefined, key: string): number | undefined {
  const m = text && new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  const s = read(`/proc/${pid}/stat`);
  return s === undefined ? undefined : s.slice(s.lastIndexOf(")") + 2).split(" ");
}

/** `root` and every process descended from it, from each process's parent in /proc/<pid>/stat. */
export function processTree(root: number = process.pid): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = Number(statFields(Number(name))?.[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(Number(name));
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

export interface MemorySample {
  /** Sum over the processes, in KiB. */
  kib: number;
  /** What was summed: PSS from smaps_rollup, or RSS (VmRSS) where that file is missing. */
  kind: "PSS" | "RSS";
  processes: number;
}

/** The memory of `pids`: PSS where the kernel tells it (it does for every process, or none). */
export function memoryOf(pids: readonly number[]): MemorySample {
  let pss = 0;
  let rss = 0;
  let pssMissing = false;
  for (const pid of pids) {
    const p = kib(read(`/proc/${pid}/smaps_rollup`), "Pss");
    if (p === undefined) pssMissing = true;
    else pss += p;
    rss += kib(read(`/proc/${pid}/status`), "VmRSS") ?? 0;
  }
  return pssMissing
    ? { kib: rss, kind: "RSS", processes: pids.length }
    : { kib: pss, kind: "PSS", processes: pids.length };
}

export interface CpuSample {
  /** Seconds of CPU (user + system) the processes used so far. */
  cpuSeconds: number;
  /** Context switches of all their threads so far: each one a thread that went to sleep or was
   * preempted, so while idle, about how often something woke. */
  switches: number;
  at: number;
}

/** CPU time and context switches of `pids`, summed over all their threads. */
export function cpuOf(pids: readonly number[]): CpuSample {
  let ticks = 0;
  let switches = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (!f) continue;
    ticks += Number(f[11]) + Number(f[12]); // utime, stime: fields 14 and 15 of stat
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      const s = read(`/proc/${pid}/task/${tid}/status`);
      const m = s && /voluntary_ctxt_switches:\s+(\d+)\s+nonvoluntary_ctxt_switches:\s+(\d+)/.exec(s);
      if (m) switches += Number(m[1]) + Number(m[2]);
    }
  }
  return { cpuSeconds: ticks / CLK_TCK, switches, at: performance.now() };
}

/** Between two samples of the same processes: CPU as % of one core, and wake-ups per second. */
export function cpuBetween(a: CpuSample, b: CpuSample): { cpuPercent: number; wakeupsPerSecond: number } {
  const s = (b.at - a.at) / 1000;
  return {
    cpuPercent: ((b.cpuSeconds - a.cpuSeconds) / s) * 100,
    wakeupsPerSecond: (b.switches - a.switches) / s,
  };
}

/** MemAvailable of /proc/meminfo in MiB: what the machine can still give without swapping. */
export function memAvailableMiB(): number {
  const text = read("/proc/meminfo");
  return Math.floor((kib(text, "MemAvailable") ?? 0) / 1024);
}
