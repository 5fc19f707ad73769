/**
 * dom0's services, started by the kernel of the privileged domain: xenstored (on its ring-less local
 * API for dom0 and a unix socket for host tools), xenconsoled, the toolstack and the host control
 * socket. Only dom0 runs this: it is the one domain whose worker may touch the host.
 */
import type { Hypercalls } from "@pvkit/abi/guest";
import { BlkbackService } from "./blkback/service.ts";
import { NetbackService } from "./netback/service.ts";
import { Consoled } from "./consoled/consoled.ts";
import { ControlServer } from "./toolstack/control-server.ts";
import { HypercallHost, type BouncePage, type EventPorts } from "./toolstack/hypercall-host.ts";
import type { ProgramGrants } from "../kernel/sharing.ts";
import { Toolstack } from "./toolstack/toolstack.ts";
import { Xenstored } from "./xenstored/index.ts";

export interface Dom0Options {
  /** The host control socket (`pvkit` CLI). */
  controlSocket: string;
  /** xenstored's socket for host tools (XENSTORED_PATH). */
  xenstoredSocket: string;
  log: (line: string) => void;
}

export interface Dom0Kernel {
  hc: Hypercalls;
  buffer: BouncePage;
  /** The kernel's grants: the toolstack maps guests' ring pages with them. */
  grants: Pick<ProgramGrants, "map" | "mapMany">;
  events: EventPorts;
}

export interface Dom0Services {
  xenstored: Xenstored;
  consoled: Consoled;
  toolstack: Toolstack;
  control: ControlServer;
  blkback: BlkbackService;
  netback: NetbackService;
  close(): Promise<void>;
}

/** Reads `control=` and `xenstored=` from dom0's command line. */
export function dom0Options(cmdline: string, log: (line: string) => void): Dom0Options {
  const arg = (k: string) => new RegExp(`(?:^|\\s)${k}=(\\S+)`).exec(cmdline)?.[1];
  const controlSocket = arg("control");
  const xenstoredSocket = arg("xenstored");
  if (!controlSocket || !xenstoredSocket)
    throw new Error(`dom0: command line needs control=<socket> and xenstored=<socket>, got "${cmdline}"`);
  return { controlSocket, xenstoredSocket, log };
}

export async function startDom0Services(k: Dom0Kernel, o: Dom0Options): Promise<Dom0Services> {
  const host = new HypercallHost(k.hc, k.buffer, k.grants, k.events);
  // xenstored asks the hypervisor whether a domain exists, as C xenstored asks Xen: permissions
  // naming a domain that does not are refused or ignored, and INTRODUCE of one is refused.
  const domainExists = (domid: number) => host.list().some((d) => d.domid === domid);
  const xenstored = new Xenstored({ log: o.log, domainExists });
  xenstored.write("/local/domain/0/name", "Domain-0");
  xenstored.write("/local/domain/0/domid", "0");
  await xenstored.listen(o.xenstoredSocket);
  const consoled = new Consoled();
  const toolstack = new Toolstack(host, xenstored, consoled, o.log);
  // The block backend serves every guest's disks (backend/vbd), as Linux's blkback does in dom0.
  const blkback = new BlkbackService(xenstored, k.grants, k.events, o.log);
  blkback.start();
  // The network backend and dom0's bridges (backend/vif), as netback and the Linux bridge in dom0.
  const netback = new NetbackService(xenstored, k.grants, k.events, o.log);
  netback.start();
  const control = new ControlServer(toolstack, consoled, xenstored, netback);
  await control.listen(o.controlSocket);
  o.log(`dom0: xenstored on ${o.xenstoredSocket}, control on ${o.controlSocket}`);
  return {
    xenstored,
    consoled,
    toolstack,
    control,
    blkback,
    netback,
    async close() {
      await control.close();
      await blkback.close();
      await netback.close();
      await xenstored.close();
    },
  };
}
