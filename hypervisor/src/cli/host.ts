/**
 * `pvkit up`: the machine. Boots the hypervisor, builds dom0 (the pvkit kernel with privileges,
 * running xenstored, xenconsoled and the toolstack as its init) and waits until the control socket
 * answers. The hypervisor names dom0's init by URL only: like a bootloader entry, not an import.
 */
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { Hypervisor, type HypervisorOptions } from "../hypervisor.ts";
import { traceCounts, traceSummary, writeChromeTraceFile } from "../trace/chrome-json.ts";
import { DomainNames } from "../trace/domain-names.ts";
import { TraceServer } from "../trace/trace-server.ts";
import { CliError } from "./client.ts";
import { lockRunDir } from "./host-lock.ts";
import { fsReason } from "./fs-reason.ts";
import { traceSocket, xenstoredSocket } from "./paths.ts";

export const DOM0_INIT_URL = new URL("../../../guest-kernel/src/dom0/init.ts", import.meta.url).href;

export interface HostOptions {
  socket: string;
  /** Record from boot and write the trace to this file at close (`pvkit up --trace`). */
  trace?: string | undefined;
  /** dom0's memory in MiB. */
  dom0MemoryMiB?: number;
  /** Where dom0's and the hypervisor's messages go (default: stderr). */
  log?: (line: string) => void;
  /** Hypervisor options beyond the console sink (tests: a short watchdog, a small machine). */
  hypervisor?: Omit<HypervisorOptions, "consoleSink">;
  /** domU workers to keep prepared (`pvkit up --pool N`; default here 0, the CLI's 2). */
  pool?: number;
}

/** The most workers `--pool` keeps: each costs a Node process (~40 MiB) while it waits. */
export const MAX_POOL = 64;

/** `--pool <n>`: a whole number from 0 to MAX_POOL. */
export function poolSize(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 0 && n <= MAX_POOL))
    throw new CliError(`pvkit: up: --pool: "${value}" is not a whole number from 0 to ${MAX_POOL}`);
  return n;
}

export interface Host {
  hv: Hypervisor;
  socket: string;
  xenstored: string;
  close(): Promise<void>;
}

/** Boots a host and resolves once dom0 serves the control socket. */
export async function startHost(o: HostOptions): Promise<Host> {
  const log = o.log ?? ((l: string) => process.stderr.write(l.endsWith("\n") ? l : `${l}\n`));
  if (o.trace) {
    // Found out now, not after a whole run: the trace file can be written.
    try {
      closeSync(openSync(o.trace, "w"));
    } catch (e) {
      throw new CliError(`pvkit: trace: cannot write ${o.trace}: ${fsReason(e)}`);
    }
  }
  mkdirSync(dirname(o.socket), { recursive: true, mode: 0o700 });
  const lock = lockRunDir(dirname(o.socket));
  const hv = new Hypervisor({
    ...o.hypervisor,
    ...(o.pool !== undefined ? { pool: o.pool } : {}),
    consoleSink: (domid, text) => domid === 0 && log(text),
  }).boot();
  const recording = o.trace ? hv.trace.start() : undefined;
  const xs = xenstoredSocket(o.socket);
  let dom0Failed: string | undefined;
  hv.on("domain", (e: { domid: number; state: string; why?: string }) => {
    if (e.domid === 0 && e.state === "shutdown") dom0Failed = e.why ?? "dom0 shut down";
  });
  hv.createDomain({
    name: "Domain-0",
    domid: 0,
    privileged: true,
    memoryMiB: o.dom0MemoryMiB ?? 64,
    program: DOM0_INIT_URL,
    cmdline: `control=${o.socket} xenstored=${xs}`,
    rings: false,
  });
  const deadline = Date.now() + 30_000;
  while (!(existsSync(o.socket) && hv.consoleLog(0).includes("dom0: ready"))) {
    const failed = dom0Failed
      ? `dom0 failed to start: ${dom0Failed}`
      : Date.now() > deadline
        ? "dom0 did not come up within 30 s"
        : undefined;
    if (failed) {
      await hv.close();
      lock.release();
      throw new Error(`${failed}\n${hv.consoleLog(0)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  // `pvkit trace` on a running host asks the hypervisor's process directly: trace/trace-server.ts.
  // Domains get their names in traces from xenstore, where the toolstack keeps them.
  const traceServer = new TraceServer(hv.trace);
  const names = new DomainNames(hv);
  try {
    await traceServer.listen(traceSocket(o.socket));
    await names.start(xs);
  } catch (e) {
    await traceServer.close();
    await hv.close();
    lock.release();
    throw new Error(`tracing: ${fsReason(e)}`);
  }
  return {
    hv,
    socket: o.socket,
    xenstored: xs,
    async close() {
      await traceServer.close();
      names.close();
      if (o.trace && recording) {
        const recorded = hv.trace.stop(recording);
        try {
          writeChromeTraceFile(o.trace, recorded);
          log(traceSummary(traceCounts(recorded), o.trace));
        } catch (e) {
          log(`pvkit: trace: cannot write ${o.trace}: ${fsReason(e)}`);
        }
      }
      await hv.close();
      lock.release();
    },
  };
}

/** `pvkit up` in the foreground until SIGINT/SIGTERM. */
export async function runHost(o: HostOptions): Promise<void> {
  const host = await startHost(o);
  // Listening before saying "up": a script that stops the host as soon as it reads that line must
  // find the handler there (else the signal's default action ends the process unclean, no trace).
  const stop = new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  process.stderr.write(`pvkit: host up — control socket ${host.socket}; XENSTORED_PATH=${host.xenstored}\n`);
  await stop;
  await host.close();
  process.exit(0);
}
