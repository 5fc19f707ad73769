/**
 * The guest half of `pnpm bench blk`: a real host (`pvkit up`'s startHost, dom0 with blkback), a
 * guest created from an xl config with the image as its xvda, and the guest's two phases driven
 * over its console (guests/disk-read.ts). Between phases the bench reads every domain's hypercall
 * and event counters through the control socket's `stats` (PVKIT_OP_domain_stats, what `pvkit top`
 * shows), and the CPU time of its own process tree, so each phase's cost is its own.
 */
import { join } from "node:path";
import { ControlClient } from "@pvkit/hypervisor/cli/client";
import { startHost } from "@pvkit/hypervisor/cli/host";
import { cpuOf, processTree } from "./proc-stats.ts";
import { countsSince, domainCounts } from "./domain-counts.ts";
import { guarded } from "./hang-guard.ts";

/** One workload's result, measured in the guest (or natively, by blk.ts). */
export interface Run {
  bytes: number;
  seconds: number;
  /** read() calls, and their latency percentiles in µs. */
  reads: number;
  p50: number;
  p99: number;
  /** Blocks that did not carry their own number (must be 0). */
  bad: number;
  /** CPU seconds of the bench's process and its children (cells) meanwhile, every thread. */
  cpu: number;
}

/** Hypercalls and event sends of the guest and of dom0 during one phase. */
export interface Counters {
  guest: number;
  dom0: number;
  guestEvents: number;
  dom0Events: number;
}

export interface GuestPhases {
  /** Sequential into the disk's shared buffers, and into the program's own (copied). */
  seq: Run;
  seqCopy: Run;
  rand: Run;
  seqCalls: Counters;
  randCalls: Counters;
}

export interface GuestRunOptions {
  /** A fresh directory for the host's sockets and the config file. */
  dir: string;
  image: string;
  cells: boolean;
  guestMiB: number;
  /** The guest's command line (guests/disk-read.ts's keys). */
  extra: string;
}

/** CPU seconds of this process and its children (the hypervisor, dom0, cells, libuv's pool). */
export const cpuNow = () => cpuOf(processTree()).cpuSeconds;

/** How long a phase may take before the bench calls the guest hung (a guard, never a deadline). */
const HANG_GUARD_MS = 300_000;

export async function runGuest(o: GuestRunOptions): Promise<GuestPhases> {
  const dom0Log: string[] = [];
  const host = await startHost({
    socket: join(o.dir, "control.sock"),
    log: (l) => dom0Log.push(l),
    // Guests time themselves: the exact TSC (domUs get a coarse one by default).
    hypervisor: { tscResolutionNs: 0, cells: o.cells },
  });
  const control = await ControlClient.open(host.socket);
  const consoleConn = await ControlClient.open(host.socket);
  try {
    const kernel = new URL("./guests/disk-read.ts", import.meta.url).pathname;
    const config =
      `name = "blkbench"\nkernel = "${kernel}"\nmemory = ${o.guestMiB}\nextra = "${o.extra}"\n` +
      `disk = ['format=raw, vdev=xvda, access=ro, target=${o.image}']\n`;
    const { domid } = await control.request<{ domid: number }>({
      op: "create",
      config,
      file: join(o.dir, "blkbench.cfg"),
    });
    const console = await guestConsole(consoleConn, dom0Log);
    const counters = () => domainCounts((req) => control.request(req), [domid, 0]);
    await console.next(/blk-bench: ready[^\n]*\n/);
    const phase = async (cmd: "warm" | "seq" | "seqcopy" | "rand"): Promise<[Run, Counters]> => {
      const before = await counters();
      const cpu0 = cpuNow();
      console.type(cmd);
      const m = await console.next(new RegExp(`\\{"phase":"${cmd}"[^\\n]*\\}`));
      const cpu = cpuNow() - cpu0;
      const [g, z] = countsSince(before, await counters());
      const r = JSON.parse(m[0]) as Run & { error?: string };
      if (r.error) throw new Error(`blk: the guest's ${cmd} phase failed: ${r.error}`);
      return [
        { ...r, cpu },
        { guest: g!.hypercalls, dom0: z!.hypercalls, guestEvents: g!.events, dom0Events: z!.events },
      ];
    };
    await phase("warm"); // the first pass, untimed on both sides (blk.ts)
    const [seq, seqCalls] = await phase("seq");
    const [seqCopy] = await phase("seqcopy");
    const [rand, randCalls] = await phase("rand");
    console.type("off");
    return { seq, seqCopy, rand, seqCalls, randCalls };
  } finally {
    consoleConn.close();
    control.close();
    await host.close();
  }
}

/** The guest's console: type a line, wait for output matching a pattern (or the guest's death). */
async function guestConsole(c: ControlClient, dom0Log: string[]) {
  let out = "";
  let waiter: { re: RegExp; resolve: (m: RegExpExecArray) => void; reject: (e: Error) => void } | undefined;
  const check = () => {
    if (!waiter) return;
    const w = waiter;
    const m = w.re.exec(out);
    if (m) {
      out = out.slice(m.index + m[0].length);
      waiter = undefined;
      w.resolve(m);
    } else if (/\[pvkit: domain \S+ is gone\]/.test(out)) {
      waiter = undefined;
      w.reject(new Error(`blk: the guest died: ${out.trim()}\n${dom0Log.slice(-10).join("")}`));
    }
  };
  await c.request({ op: "console", domain: "blkbench" });
  c.rawMode((b) => {
    out += b.toString();
    check();
  });
  return {
    type: (line: string) => void c.socket.write(`${line}\r`),
    next: (re: RegExp) =>
      guarded(
        new Promise<RegExpExecArray>((resolve, reject) => {
          waiter = { re, resolve, reject };
          check();
        }),
        HANG_GUARD_MS,
        () => `blk: the guest never printed ${re}; it printed ${JSON.stringify(out)}`,
      ),
  };
}
