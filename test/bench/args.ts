/**
 * `pnpm bench`'s command line: which benchmarks to run and how long.
 *
 *   pnpm bench [--quick] [name...] [--count N] [--cells | --no-cells] [--memory-bound MiB]
 *              [--settle S] [--memory MiB[,MiB...]]
 *
 * With no names every benchmark runs; --quick runs each with fewer iterations and fewer domains (the
 * whole run in under a minute on two cores). --count, --cells/--no-cells and --memory-bound are the
 * density benchmark's: how many idle guests to start, in cells only or with cells off only (default:
 * both), how much of the machine's memory to leave free (default 2048 MiB), and how long to let the
 * host settle at most once every guest is up, before measuring it idle (default 300 s, ending once
 * the host is settled: density.ts; 1 with --quick).
 * blk reads a 1 GiB disk image through blkfront and blkback beside node:fs (256 MiB with --quick).
 * tcp sends 256 MiB guest → guest down one connection, 5 times, and times 8 keep-alive connections
 * making 20 000 HTTP GETs, 5 times, beside node:net and node:http on loopback (16 MiB, 1000 GETs and
 * 3 runs with --quick).
 * --memory is domain-create's: the sizes of the domains it times, one after another (default 8).
 */

/**
 * Idle guests density starts in each mode with --quick. It was 50, which took 36 of the quick run's
 * 73-88 s here (the goal is under a minute); 12 still show what a guest costs the host.
 */
const QUICK_DENSITY_COUNT = 12;

/** Every benchmark, by the name the command line uses, in the order a full run takes them. */
export const BENCHMARKS = [
  "hypercall",
  "event-latency",
  "event-domains",
  "domain-create",
  "blk",
  "net",
  "tcp",
  "density",
] as const;
export type BenchName = (typeof BENCHMARKS)[number];

export interface BenchArgs {
  names: BenchName[];
  quick: boolean;
  density: {
    /**
     * Idle guests to start in each mode: 1000 when density is named, 200 in a run of every benchmark
     * (1000 take ~10 minutes to start and settle in both modes, the whole run's budget);
     * QUICK_DENSITY_COUNT with --quick.
     */
    count: number;
    /** Cells on, cells off, or both. */
    modes: boolean[];
    /** MiB of the machine's memory that must stay free. */
    leaveFreeMiB: number;
    /** The longest wait between the last guest up and the idle measurement, in seconds. */
    settleSeconds: number;
  };
  /** domain-create: the memory of the domains it times, in MiB, each size in turn. */
  createMemoryMiB: number[];
}

export const USAGE =
  `usage: pnpm bench [--quick] [${BENCHMARKS.join("|")} ...] ` +
  `[--count N] [--cells|--no-cells] [--memory-bound MiB] [--settle S] [--memory MiB[,MiB...]]`;

/** Parses `argv` (without node and the script); throws an Error naming the first bad argument. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const names: BenchName[] = [];
  let quick = false;
  let count: number | undefined;
  let modes = [true, false];
  let leaveFreeMiB = 2048;
  let settle: number | undefined;
  let createMemoryMiB = [8];
  const number = (flag: string, value: string | undefined, min: number): number => {
    const n = Number(value);
    if (value === undefined || !Number.isInteger(n) || n < min)
      throw new Error(`${flag} wants a whole number of at least ${min}, not ${value ?? "nothing"}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--")
      continue; // pnpm passes it through when asked to
    else if (a === "--quick") quick = true;
    else if (a === "--count") count = number(a, argv[++i], 1);
    else if (a === "--cells") modes = [true];
    else if (a === "--no-cells") modes = [false];
    else if (a === "--memory-bound") leaveFreeMiB = number(a, argv[++i], 0);
    else if (a === "--settle") settle = number(a, argv[++i], 0);
    else if (a === "--memory") {
      const list = argv[++i];
      createMemoryMiB = (list ?? "").split(",").map((m) => number(a, m || undefined, 4));
    } else if ((BENCHMARKS as readonly string[]).includes(a)) names.push(a as BenchName);
    else if (a.startsWith("-")) throw new Error(`unknown option ${a}`);
    else throw new Error(`no benchmark named ${a} (there are ${BENCHMARKS.join(", ")})`);
  }
  return {
    names: names.length > 0 ? BENCHMARKS.filter((n) => names.includes(n)) : [...BENCHMARKS],
    quick,
    density: {
      count: count ?? (quick ? QUICK_DENSITY_COUNT : names.includes("density") ? 1000 : 200),
      modes,
      leaveFreeMiB,
      settleSeconds: settle ?? (quick ? 1 : 300),
    },
    createMemoryMiB,
  };
}
