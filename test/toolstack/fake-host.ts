/**
 * A ToolstackHost without a hypervisor, for testing the toolstack's own logic: domains are records,
 * ring pages are real SharedArrayBuffers, event channels are callbacks. `guestShutdown` plays a guest
 * that called SCHEDOP_shutdown (the hypervisor then raises VIRQ_DOM_EXC).
 */
import type {
  BoundPort,
  BuiltDomain,
  DomainInfo,
  MappedPage,
  ToolstackHost,
} from "@pvkit/guest-kernel/dom0/toolstack/host";

interface FakeDomain {
  info: DomainInfo;
  kernel?: string;
  pages: Map<number, DataView>;
  ports: Map<number, () => void>;
  kicks: Map<number, number>;
}

export class FakeHost implements ToolstackHost {
  readonly domains = new Map<number, FakeDomain>();
  private exc: () => void = () => {};
  readonly calls: string[] = [];

  constructor() {
    this.domains.set(0, this.record(0, 1024));
  }

  private record(domid: number, maxPages: number): FakeDomain {
    return {
      info: {
        domid,
        pages: 0,
        maxPages,
        vcpus: 1,
        cpuTimeNs: 0n,
        running: false,
        blocked: false,
        paused: true,
        dying: false,
        shutdown: false,
        shutdownReason: 0,
        crashed: false,
      },
      pages: new Map(),
      ports: new Map(),
      kicks: new Map(),
    };
  }

  private dom(domid: number): FakeDomain {
    const d = this.domains.get(domid);
    if (!d) throw new Error(`-ESRCH: no domain ${domid}`);
    return d;
  }

  physinfo() {
    const used = [...this.domains.values()].reduce((n, d) => n + d.info.maxPages, 0);
    return { nrCpus: 2, totalPages: 262144, freePages: 262144 - used };
  }

  createDomain(domid: number, opts: { maxMemKiB: number; vcpus: number }): void {
    this.calls.push(`create ${domid}`);
    if (this.domains.has(domid)) throw new Error("-EEXIST");
    this.domains.set(domid, this.record(domid, opts.maxMemKiB / 4));
  }
  setMaxMem(domid: number, maxMemKiB: number): void {
    const d = this.domains.get(domid);
    if (d) d.info.maxPages = maxMemKiB / 4;
  }

  /** Every kernel exists here but those named "missing". */
  kernelExists(path: string): boolean {
    return !path.includes("missing");
  }

  setKernel(domid: number, url: string): { inspectorPort?: number } {
    this.dom(domid).kernel = url;
    return {};
  }
  build(domid: number, nrPages: number): BuiltDomain {
    const d = this.dom(domid);
    d.info.pages = nrPages;
    d.pages.set(0, new DataView(new SharedArrayBuffer(4096)));
    d.pages.set(1, new DataView(new SharedArrayBuffer(4096)));
    return { storeGfn: 5n, consoleGfn: 6n, storePort: 1, consolePort: 2 };
  }
  pause(domid: number): void {
    this.dom(domid).info.paused = true;
  }
  /** What a guest does once it first runs (a test makes its kernel announce itself, as a real one would). */
  onFirstRun: (domid: number) => void = () => {};
  unpause(domid: number): void {
    const i = this.dom(domid).info;
    const first = i.paused && !this.started.has(domid);
    i.paused = false;
    i.blocked = true;
    if (first) {
      this.started.add(domid);
      this.onFirstRun(domid);
    }
  }
  private readonly started = new Set<number>();
  destroy(domid: number): void {
    this.calls.push(`destroy ${domid}`);
    this.dom(domid);
    this.domains.delete(domid);
  }
  list(): DomainInfo[] {
    return [...this.domains.values()].map((d) => ({ ...d.info }));
  }
  domainStats(domid: number): { hypercalls: number; events: number } {
    this.dom(domid);
    return { hypercalls: 0, events: 0 };
  }
  mapGrant(domid: number, ref: number): MappedPage {
    const view = this.dom(domid).pages.get(ref);
    if (!view) throw new Error(`GNTST_bad_gntref ${ref}`);
    return { view, unmap: () => this.calls.push(`unmap ${domid}/${ref}`) };
  }
  bindInterdomain(domid: number, remotePort: number, onEvent: () => void): BoundPort {
    const d = this.dom(domid);
    d.ports.set(remotePort, onEvent);
    return {
      localPort: 100 + remotePort,
      notify: () => d.kicks.set(remotePort, (d.kicks.get(remotePort) ?? 0) + 1),
      close: () => this.calls.push(`close ${domid}/${remotePort}`),
    };
  }
  onDomainException(cb: () => void): void {
    this.exc = cb;
  }
  consoleLog(domid: number): string {
    return `log of ${domid}\n`;
  }

  /** The guest notifies dom0 on `port` (the console or xenstore port). */
  guestKick(domid: number, port: number): void {
    this.dom(domid).ports.get(port)?.();
  }
  guestShutdown(domid: number, reason: number): void {
    const i = this.dom(domid).info;
    i.shutdown = true;
    i.shutdownReason = reason;
    i.crashed = reason === 3;
    this.exc();
  }
}
