/**
 * dom0's init program: start xenstored, the console daemon, the toolstack and the host control
 * socket, then serve forever. The host (`pvkit up`) names this module as dom0's program and passes
 * the socket paths on dom0's command line.
 */
import { parentPort } from "node:worker_threads";
import type { KernelHandle } from "../kernel/program.ts";
import { privileged } from "./privileged.ts";
import { dom0Options, startDom0Services } from "./services.ts";

export default async function main(k: KernelHandle): Promise<void> {
  const p = privileged();
  const opts = dom0Options(k.cmdline, (line) => k.print(line));
  const pfn = p.kernel.mm.alloc();
  const buffer = {
    addr: pfn * 4096,
    write: (addr: number, bytes: Uint8Array) => p.memory.write(addr, bytes),
    read: (addr: number, len: number) => p.memory.read(addr, len),
  };
  const services = await startDom0Services(
    { hc: p.hc, buffer, grants: k.grants, events: p.kernel.events },
    opts,
  );
  // Before the host ends this worker it asks us to close our sockets (HostRelease): Node aborts
  // the process if a socket of a worker it is terminating receives meanwhile.
  parentPort?.on("message", (m: { t?: string } | null) => {
    if (m?.t !== "release") return;
    void services
      .close()
      .catch(() => undefined)
      .then(() => parentPort?.postMessage({ t: "released" }));
  });
  k.print("dom0: ready");
  // Services are event driven; init never returns (returning would power dom0 off).
  await new Promise<never>(() => {});
}
