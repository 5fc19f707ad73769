/**
 * A domain: its identity, its memory (the P2M: pfn → machine frame, capped by its quota), its one
 * vCPU, its shared_info frame, its console_io log and its lifecycle state. The Domain holds state
 * only; the Hypervisor drives it. Invariant: every frame in `p2m` belongs to this domain alone.
 */
import type { DomainWorker } from "./worker.ts";
import type { Frame } from "../gnttab/host.ts";
import { CpuAccount } from "./cpu.ts";
import { Vcpu } from "./vcpu.ts";
import { P2m } from "./p2m.ts";

export type DomainState = "created" | "running" | "paused" | "shutdown" | "dying" | "dead";

/** The bounded console_io log a domain writes before its PV console is up. */
export class ConsoleLog {
  private chunks: string[] = [];
  private size = 0;
  /** Total bytes ever written: readers keep a position in this stream. */
  written = 0;
  constructor(private readonly limit = 64 * 1024) {}
  append(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    this.written += text.length;
    while (this.size > this.limit && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    return this.chunks.join("");
  }
}

export interface DomainConfigHv {
  name: string;
  /** Pages the domain may own (its quota, xl's maxmem). */
  maxPages: number;
  privileged: boolean;
}

let incarnations = 0;

export class Domain {
  /**
   * This incarnation, unique for the life of the host: frames remember their holders by it, since a
   * domid is reused while the worker of its last holder may still be exiting.
   */
  readonly uid = ++incarnations;
  /** Its memory: pfn → machine frame (p2m.ts). */
  readonly p2m: P2m;
  /** Its one vCPU, made once the hypervisor has given it a page (attachVcpu). */
  vcpu!: Vcpu;
  /** Real CPU use of its worker, and the busy streak the watchdog watches. */
  readonly cpu = new CpuAccount();
  readonly console = new ConsoleLog();
  state: DomainState = "created";
  /** Pause count, as Xen's domain_pause: the vCPU runs only at zero. */
  pauseCount = 1;
  /** Pages it may own (xl's maxmem): admitted against the machine's memory. */
  private quota = 0;
  maxVcpus = 1;
  name: string;
  readonly privileged: boolean;
  /** The kernel module URL of the worker (the pvkit guest kernel entry) and its program. */
  kernelUrl?: string;
  programUrl?: string;
  cmdline = "";
  inspect = false;
  /** With `inspect`: the worker waits for a debugger before the domain's code runs. */
  inspectBrk = false;
  inspectorPort?: number;
  /** Set by the builder; the worker starts at the first unpause once built. */
  built = false;
  startInfoPfn = -1;
  sharedInfo?: Frame;
  worker?: DomainWorker;
  /** Set while the domain's images are built and its worker started. */
  launching?: Promise<void>;
  /** Its worker was given its boot frames (hand-overs go through its mail ring from now on). */
  launched = false;
  /** Its worker has exited (or never started and never will): nothing of the machine is held by it. */
  gone = false;
  shutdownReason?: number;
  shutdownCode?: number;
  /** Why the domain crashed, for `pvkit list` and tests. */
  crashReason?: string;
  readonly createdAt = performance.now();
  /** Hypercalls it has made, and EVTCHNOP_send calls among them (`pvkit top`'s HC/s and EV/s). */
  hypercalls = 0;
  eventsSent = 0;

  constructor(
    readonly domid: number,
    cfg: DomainConfigHv,
  ) {
    this.name = cfg.name;
    this.privileged = cfg.privileged;
    this.p2m = new P2m();
    this.maxPages = cfg.maxPages;
  }

  get maxPages(): number {
    return this.quota;
  }

  /** A new quota; the P2M keeps pfns below the largest one in its array (p2m.ts). */
  set maxPages(pages: number) {
    this.quota = pages;
    this.p2m.cover(pages);
  }

  /** Gives the domain its vCPU, over `page` (a machine frame the hypervisor allocated for it). */
  attachVcpu(page: Frame): void {
    this.vcpu = new Vcpu(this, 0, page);
  }

  get pages(): number {
    return this.p2m.size;
  }

  /** Alive: its vCPU may run or will run again (not shut down, not being destroyed). */
  get alive(): boolean {
    return this.state === "created" || this.state === "running" || this.state === "paused";
  }

  get paused(): boolean {
    return this.pauseCount > 0;
  }
}
