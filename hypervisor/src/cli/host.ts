/**
 * `pvkit up`: the machine. Boots the hypervisor, builds dom0 (the pvkit kernel with privileges,
 * running xenstored, xenconsoled and the toolstack as its init) and waits until the control socket
 * answers. The hypervisor names dom0's init by URL only: like a bootloader entry, not an import.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Hypervisor, type HypervisorOptions } from "../hypervisor.ts";
import { lockRunDir } from "./host-lock.ts";
import { xenstoredSocket } from "./paths.ts";

export const DOM0_INIT_URL = new URL("../../../guest-kernel/src/dom0/init.ts", import.meta.url).href;

export interface HostOptions {
  socket: string;
  trace?: string | undefined;
  /** dom0's memory in MiB. */
  dom0MemoryMiB?: number;
  /** Where dom0's and the hypervisor's messages go (default: stderr). */
  log?: (line: string) => void;
  /** Hypervisor options beyond the console sink (tests: a short watchdog, a small machine). */
  hypervisor?: Omit<HypervisorOptions, "consoleSink">;
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
  mkdirSync(dirname(o.socket), { recursive: true, mode: 0o700 });
  const lock = lockRunDir(dirname(o.socket));
  const hv = new Hypervisor({
    ...o.hypervisor,
    consoleSink: (domid, text) => domid === 0 && log(text),
  }).boot();
  if (o.trace) hv.trace.enabled = true;
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
  return {
    hv,
    socket: o.socket,
    xenstored: xs,
    async close() {
      if (o.trace)
        writeFileSync(
          o.trace,
          JSON.stringify(hv.trace.export(new Map([...hv.domains].map(([id, d]) => [id, d.name])))),
        );
      await hv.close();
      lock.release();
    },
  };
}

/** `pvkit up` in the foreground until SIGINT/SIGTERM. */
export async function runHost(o: HostOptions): Promise<void> {
  const host = await startHost(o);
  process.stderr.write(`pvkit: host up — control socket ${host.socket}; XENSTORED_PATH=${host.xenstored}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await host.close();
  process.exit(0);
}
