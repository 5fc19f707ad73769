/**
 * What dom0's toolstack needs from its own privileged kernel: the hypercalls libxl makes (domctl,
 * sysctl, pvkit_op) and the plumbing to serve a guest's rings (map a granted page, bind an
 * interdomain event channel). hypercall-host.ts implements it over the generated SDK; tests use a fake.
 */

/** One domain as XEN_SYSCTL_getdomaininfolist describes it. */
export interface DomainInfo {
  domid: number;
  /** Pages the domain holds now. */
  pages: number;
  maxPages: number;
  vcpus: number;
  cpuTimeNs: bigint;
  running: boolean;
  blocked: boolean;
  paused: boolean;
  dying: boolean;
  /** Set when the domain has shut down; the reason is SHUTDOWN_*. */
  shutdown: boolean;
  shutdownReason: number;
  crashed: boolean;
}

/** What the builder set up for a new domain (pvkit_op build's out fields). */
export interface BuiltDomain {
  storeGfn: bigint;
  consoleGfn: bigint;
  storePort: number;
  consolePort: number;
}

/** A page of another domain mapped into dom0 by grant reference. */
export interface MappedPage {
  view: DataView;
  unmap(): void;
}

/** An interdomain event channel dom0 bound to a guest's unbound port. */
export interface BoundPort {
  localPort: number;
  notify(): void;
  close(): void;
}

/** The machine, as `xl info` shows it. */
export interface PhysInfo {
  nrCpus: number;
  /** Machine memory in pages, and the pages not promised to any domain. */
  totalPages: number;
  freePages: number;
}

/** The hypervisor's warm pool of domU workers (PVKIT_OP_pool_info). */
export interface PoolInfo {
  size: number;
  ready: number;
  served: number;
  cold: number;
}

export interface ToolstackHost {
  /** XEN_SYSCTL_physinfo. */
  physinfo(): PhysInfo;
  /** PVKIT_OP_pool_info (a host without a pool need not have it). */
  poolInfo?(): PoolInfo;
  /** XEN_DOMCTL_createdomain with the requested domid, then max_vcpus and max_mem. Throws on failure. */
  createDomain(domid: number, opts: { maxMemKiB: number; vcpus: number }): void;
  /**
   * PVKIT_OP_set_kernel: returns the inspector port when `inspect`; with `waitForDebugger` too, the
   * domain's worker waits for a debugger before running anything.
   */
  setKernel(
    domid: number,
    kernelUrl: string,
    cmdline: string,
    inspect: boolean,
    waitForDebugger?: boolean,
  ): { inspectorPort?: number };
  /** XEN_DOMCTL_max_mem: the most memory the domain may hold from now on. */
  setMaxMem(domid: number, maxMemKiB: number): void;
  /** Whether a kernel (guest program) file is there to load, checked before a domain is made. */
  kernelExists(path: string): boolean;
  /** PVKIT_OP_build: memory, start_info, rings, ports, reserved grants; the domain stays paused. */
  build(domid: number, nrPages: number): BuiltDomain;
  pause(domid: number): void;
  unpause(domid: number): void;
  destroy(domid: number): void;
  /** Every domain, dom0 included. */
  list(): DomainInfo[];
  /** PVKIT_OP_domain_stats: the hypercalls and event sends the domain has made. Throws when gone. */
  domainStats(domid: number): { hypercalls: number; events: number };
  /** Maps grant `ref` of domain `domid` (GNTTAB_RESERVED_CONSOLE/XENSTORE) read-write into dom0. */
  mapGrant(domid: number, ref: number): MappedPage;
  /** Binds to `remotePort` of `domid`; `onEvent` runs when the guest notifies. */
  bindInterdomain(domid: number, remotePort: number, onEvent: () => void): BoundPort;
  /** Runs `cb` on VIRQ_DOM_EXC: some domain shut down or crashed; call list() to see which. */
  onDomainException(cb: () => void): void;
  /** PVKIT_OP_console_read: a domain's console_io log (DOMID_XEN: the hypervisor's). */
  consoleLog(domid: number): string;
}
