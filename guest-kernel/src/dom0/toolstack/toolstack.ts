/**
 * dom0's toolstack (libxl's role): builds domains from xl.cfg files, records them in xenstore, hands
 * their rings to xenstored and the console daemon, and applies on_poweroff/on_reboot/on_crash when
 * a domain stops. Every hypervisor operation goes through ToolstackHost; every problem a user can
 * cause comes back as one ToolstackError line.
 */
import { shutdownReasonName } from "@pvkit/abi";
import { pathToFileURL } from "node:url";
import type {
  CreateProgress,
  DomainRecord,
  DomainStats,
  DomainSummary,
  HostInfo,
} from "@pvkit/abi/toolstack-protocol";
import { ENOMEM, GNTTAB_RESERVED_CONSOLE, GNTTAB_RESERVED_XENSTORE } from "@pvkit/abi/layout";
import type { Consoled } from "../consoled/consoled.ts";
import { lifecycleAction, parseDomainConfig, type DomainConfig } from "./cfg.ts";
import { domainRecord, stateLetters } from "./domain-record.ts";
import { BootWatch, type BootOutcome, type BootStore } from "./boot-watch.ts";
import type { BoundPort, DomainInfo, MappedPage, ToolstackHost } from "./host.ts";
import { domainPath, removeDomainEntries, writeDomainEntries, type StoreWriter } from "./store-layout.ts";
import { diskProblem, removeDiskEntries, writeDiskEntries } from "./disks.ts";
import { HotplugCommands } from "./hotplug-commands.ts";
import { ToolstackError } from "./toolstack-error.ts";
import { removeVifEntries, writeVifEntries } from "./vifs.ts";

export { ToolstackError };

/** A memory size from the CLI: a whole number of MiB, at least 1. */
function checkMiB(op: string, domain: string, mib: number): void {
  if (!Number.isInteger(mib) || mib < 1 || mib > 65536)
    throw new ToolstackError(`${op} ${domain}: expected a whole number of MiB from 1 to 65536, got ${mib}`);
}

/** The xenstored operations the toolstack uses beyond plain writes. */
export interface StoreServer extends StoreWriter, BootStore {
  attachDomainRing(domid: number, page: DataView, notify: () => void): { onEvent(): void };
  introduceDomain(domid: number, mfn?: bigint, port?: number): void;
  releaseDomain(domid: number): void;
  directory(path: string): string[];
}

interface Managed {
  /** What it was created from, with the devices hotplug added and took since: what a reboot makes. */
  cfg: DomainConfig;
  resources: (MappedPage | BoundPort)[];
  unmapped?: boolean;
}

const PAGES_PER_MIB = 256;
/** The hypervisor's own console log (DOMID_XEN to console_read). */
const DOMID_XEN_LOG = 0x7ff2;
/** pvkit's version, as `pvkit info` reports it. */
const PVKIT_VERSION = "0.1.0";

export class Toolstack {
  /** The last domain id handed out (freeDomid). */
  private lastDomid = 0;
  private readonly managed = new Map<number, Managed>();
  private readonly waiters = new Set<() => void>();
  private readonly boots: BootWatch;
  /** Every name a domain was created with, by id (ids are not reused until they wrap). */
  private readonly names = new Map<number, string>();

  constructor(
    private readonly host: ToolstackHost,
    private readonly store: StoreServer,
    private readonly consoled: Consoled,
    private readonly log: (line: string) => void = () => {},
  ) {
    host.onDomainException(() => this.reap());
    this.boots = new BootWatch(store, () => host.consoleLog(DOMID_XEN_LOG));
    this.hotplug = new HotplugCommands(
      store,
      (domain) => this.guest(domain),
      (domid, change) => {
        const m = this.managed.get(domid);
        if (m) m.cfg = change(m.cfg);
        return m !== undefined;
      },
    );
  }

  /** `pvkit info`. */
  info(): HostInfo {
    const p = this.host.physinfo();
    const pool = this.host.poolInfo?.();
    return {
      version: PVKIT_VERSION,
      nr_cpus: p.nrCpus,
      total_memory: Math.floor(p.totalPages / PAGES_PER_MIB),
      free_memory: Math.floor(p.freePages / PAGES_PER_MIB),
      nr_domains: this.host.list().length,
      ...(pool ? { pool_size: pool.size, pool_ready: pool.ready, pool_served: pool.served } : {}),
    };
  }

  /**
   * `pvkit create`: parse, build, record, connect rings, unpause. Returns the new domain. `inspect`
   * "brk" also makes its worker wait for a debugger; `progress` hears each step as it starts.
   */
  create(
    text: string,
    file: string,
    inspect: boolean | "brk" = false,
    progress: (p: CreateProgress) => void = () => {},
  ): { domid: number; name: string; inspector?: string } {
    const steps = [
      "reading the config",
      "creating the domain",
      "building it",
      "connecting its rings",
      "starting it",
      "booting it",
    ];
    const step = (i: number) => progress({ step: steps[i]!, index: i + 1, total: steps.length });
    step(0);
    const cfg = parseDomainConfig(file, text);
    if (this.byName(cfg.name) !== undefined)
      throw new ToolstackError(`domain name "${cfg.name}" is already in use`);
    return this.start(cfg, inspect, step);
  }

  /** Builds, records, connects and unpauses a domain from `cfg` (create's steps 2..5). */
  private start(
    cfg: DomainConfig,
    inspect: boolean | "brk",
    step: (i: number) => void,
  ): { domid: number; name: string; inspector?: string } {
    // A kernel that is not there is the user's mistake, said before any domain exists.
    if (!this.host.kernelExists(cfg.kernel))
      throw new ToolstackError(`${cfg.file}: kernel: ${cfg.kernel}: no such file`);
    for (const [i, d] of cfg.disks.entries()) {
      const why = diskProblem(d);
      if (why) throw new ToolstackError(`${cfg.file}: disk ${i} (${d.vdev}): ${d.target}: ${why}`);
    }
    const domid = this.freeDomid();
    step(1);
    try {
      this.host.createDomain(domid, { maxMemKiB: cfg.maxmem * 1024, vcpus: cfg.vcpus });
    } catch (e) {
      // The hypervisor admits a domain only while its memory fits: say so in the user's terms.
      if ((e as { errno?: number }).errno !== ENOMEM) throw e;
      try {
        this.host.destroy(domid);
      } catch {
        /* createdomain itself failed */
      }
      const free = Math.floor(this.host.physinfo().freePages / PAGES_PER_MIB);
      throw new ToolstackError(
        `${cfg.file}: ${cfg.maxmem === cfg.memory ? "memory" : "maxmem"} = ${cfg.maxmem} MiB does not fit: ` +
          `${free} MiB of the host's memory is free, and each domain needs some for its runtime too (pvkit info)`,
      );
    }
    const m: Managed = { cfg, resources: [] };
    this.managed.set(domid, m);
    try {
      step(2);
      const url = pathToFileURL(cfg.kernel).href;
      const k = this.host.setKernel(
        domid,
        url,
        cfg.extra,
        inspect !== false || cfg.inspect,
        inspect === "brk",
      );
      const built = this.host.build(domid, cfg.memory * PAGES_PER_MIB);
      writeDomainEntries(this.store, domid, cfg, built);
      writeDiskEntries(this.store, domid, cfg.disks);
      writeVifEntries(this.store, domid, cfg.vifs);

      // xenstore: map the guest's ring page (grant 1), bind its port, let xenstored serve it.
      step(3);
      const storePage = this.host.mapGrant(domid, GNTTAB_RESERVED_XENSTORE);
      let ring: { onEvent(): void } | undefined;
      const storePort = this.host.bindInterdomain(domid, built.storePort, () => ring?.onEvent());
      m.resources.push(storePage, storePort);
      ring = this.store.attachDomainRing(domid, storePage.view, () => storePort.notify());
      this.store.introduceDomain(domid, built.storeGfn, built.storePort);

      // console: the same for the console page (grant 0) and xenconsoled.
      const consPage = this.host.mapGrant(domid, GNTTAB_RESERVED_CONSOLE);
      const consPort = this.host.bindInterdomain(domid, built.consolePort, () =>
        this.consoled.onEvent(domid),
      );
      m.resources.push(consPage, consPort);
      this.consoled.attach(domid, consPage.view, () => consPort.notify());

      step(4);
      this.host.unpause(domid);
      this.log(`created domain ${cfg.name} (id ${domid})`);
      this.names.set(domid, cfg.name);
      const out: { domid: number; name: string; inspector?: string } = { domid, name: cfg.name };
      if (k.inspectorPort) out.inspector = `127.0.0.1:${k.inspectorPort}`;
      return out;
    } catch (e) {
      this.teardown(domid, true);
      throw e;
    }
  }

  /**
   * After create: waits for the domain to boot (boot-watch.ts). A crash on the way up is create's
   * failure, in words, with what the hypervisor logged; anything else is reported as it is.
   */
  async booted(domid: number, progress: (p: CreateProgress) => void = () => {}): Promise<BootOutcome> {
    progress({ step: "booting it", index: 6, total: 6 });
    const name = this.names.get(domid) ?? `domain ${domid}`;
    const o = await this.boots.wait(domid);
    if (o.state !== "failed") return o;
    const kept = this.host.list().some((d) => d.domid === domid);
    throw new ToolstackError(
      `create ${name}: it crashed while booting: ${o.why}` +
        (kept ? ` (kept for inspection by on_crash; pvkit destroy ${name} removes it)` : ""),
    );
  }

  /** Domain id from a name or a number. */
  resolve(domain: string): number {
    const id = /^[0-9]+$/.test(domain) ? Number(domain) : this.byName(domain);
    if (id === undefined || !this.host.list().some((d) => d.domid === id))
      throw new ToolstackError(`no domain "${domain}"`);
    return id;
  }

  list(): DomainSummary[] {
    return this.host.list().map((d) => this.summary(d));
  }

  /** `pvkit list -l`: each domain's cfg as created (none for dom0) and its state now. */
  listLong(): DomainRecord[] {
    return this.host.list().map((d) => domainRecord(this.summary(d), d, this.managed.get(d.domid)?.cfg));
  }

  /** `pvkit top`: the list with each domain's hypercall and event counters (gone ones left out). */
  stats(): DomainStats[] {
    const out: DomainStats[] = [];
    for (const d of this.host.list()) {
      let counters: { hypercalls: number; events: number };
      try {
        counters = this.host.domainStats(d.domid);
      } catch {
        continue; // destroyed between the two calls
      }
      out.push({ ...this.summary(d), maxmem: Math.round(d.maxPages / PAGES_PER_MIB), ...counters });
    }
    return out;
  }

  private summary(d: DomainInfo): DomainSummary {
    return {
      name:
        d.domid === 0
          ? "Domain-0"
          : (this.managed.get(d.domid)?.cfg.name ??
            this.store.tryRead(`${domainPath(d.domid)}/name`) ??
            `domain-${d.domid}`),
      domid: d.domid,
      memory: Math.round(d.pages / PAGES_PER_MIB),
      vcpus: d.vcpus,
      state: stateLetters(d),
      time: Number(d.cpuTimeNs) / 1e9,
    };
  }

  pause(domain: string): void {
    this.host.pause(this.guest(domain));
  }

  unpause(domain: string): void {
    this.host.unpause(this.guest(domain));
  }

  /** Graceful: ask through control/shutdown, as xl does; with `wait`, resolve once the domain is gone. */
  async shutdown(
    domain: string,
    kind: "poweroff" | "reboot",
    wait = false,
    timeoutMs = 30_000,
  ): Promise<void> {
    const domid = this.guest(domain);
    if (this.host.list().find((d) => d.domid === domid)?.shutdown)
      throw new ToolstackError(
        `${kind === "poweroff" ? "shutdown" : kind} ${domain}: it has already shut down`,
      );
    this.store.write(`${domainPath(domid)}/control/shutdown`, kind);
    if (!wait) return;
    const deadline = Date.now() + timeoutMs;
    while (this.host.list().some((d) => d.domid === domid && (kind === "poweroff" || !d.shutdown))) {
      if (Date.now() > deadline)
        throw new ToolstackError(`domain ${domain} did not shut down within ${timeoutMs / 1000} s`);
      await new Promise<void>((r) => {
        this.waiters.add(r);
        setTimeout(r, 200).unref();
      });
    }
  }

  /** Hard stop: no guest involvement. */
  destroy(domain: string): void {
    this.teardown(this.guest(domain), true);
  }

  /**
   * `xl mem-set`: the domain's balloon target (memory/target), which its balloon driver follows.
   * It may not exceed the domain's maxmem (raise that first with mem-max).
   */
  memSet(domain: string, mib: number): void {
    const domid = this.guest(domain);
    checkMiB("mem-set", domain, mib);
    const maxKiB = Number(this.store.tryRead(`${domainPath(domid)}/memory/static-max`) ?? Infinity);
    if (mib * 1024 > maxKiB)
      throw new ToolstackError(
        `mem-set ${domain}: ${mib} MiB is above its maxmem of ${maxKiB / 1024} MiB (raise it with mem-max)`,
      );
    this.store.write(`${domainPath(domid)}/memory/target`, String(mib * 1024));
  }

  /** `xl mem-max`: the most the domain may hold (XEN_DOMCTL_max_mem and memory/static-max). */
  memMax(domain: string, mib: number): void {
    const domid = this.guest(domain);
    checkMiB("mem-max", domain, mib);
    const holds = Math.ceil((this.host.list().find((d) => d.domid === domid)?.pages ?? 0) / PAGES_PER_MIB);
    if (mib < holds)
      throw new ToolstackError(
        `mem-max ${domain}: ${mib} MiB is below the ${holds} MiB it holds now (shrink it with mem-set first)`,
      );
    this.host.setMaxMem(domid, mib * 1024);
    this.store.write(`${domainPath(domid)}/memory/static-max`, String(mib * 1024));
    const m = this.managed.get(domid);
    // Kept for a reboot too, with the memory it boots with no larger (a cfg may not say more).
    if (m) m.cfg = { ...m.cfg, maxmem: mib, memory: Math.min(m.cfg.memory, mib) };
  }

  /**
   * `xl block-attach/-detach`, `network-attach/-detach` (hotplug-commands.ts): each change is kept in
   * the config a reboot uses (and `list -l` shows), as libxl keeps it.
   */
  readonly hotplug: HotplugCommands;

  /** The early console_io log of a domain, or the hypervisor's. */
  dmesg(domain?: string): string {
    if (domain !== undefined) return this.host.consoleLog(this.resolve(domain));
    // The hypervisor knows domains by id only (as Xen); name them as the user did, even gone ones.
    return this.host
      .consoleLog(DOMID_XEN_LOG)
      .replace(/\(domain-(\d+)\)/g, (m, id: string) =>
        this.names.has(+id) ? `(${this.names.get(+id)})` : m,
      );
  }

  private guest(domain: string): number {
    const domid = this.resolve(domain);
    if (domid === 0)
      throw new ToolstackError("that is dom0: operate the host with `pvkit up`'s process instead");
    return domid;
  }

  private byName(name: string): number | undefined {
    for (const [id, m] of this.managed) if (m.cfg.name === name) return id;
    return undefined;
  }

  /**
   * The next domain id, as Xen hands them out: the first free one after the last given (wrapping
   * below DOMID_FIRST_RESERVED), so a rebooted or recreated domain gets a new id.
   */
  private freeDomid(): number {
    const used = new Set(this.host.list().map((d) => d.domid));
    for (let i = 1; i < 0x7ff0; i++) {
      const id = ((this.lastDomid + i - 1) % 0x7fef) + 1;
      if (!used.has(id)) return (this.lastDomid = id);
    }
    throw new ToolstackError("no free domain id");
  }

  /** VIRQ_DOM_EXC: apply each stopped domain's on_* policy. */
  reap(): void {
    for (const d of this.host.list()) {
      const m = this.managed.get(d.domid);
      if (!m || !d.shutdown || m.unmapped) continue;
      this.boots.stopped(d.domid, d.shutdownReason);
      const action = lifecycleAction(m.cfg, d.shutdownReason);
      this.log(
        `domain ${m.cfg.name} (id ${d.domid}) shut down (${shutdownReasonName(d.shutdownReason)}): ${action}`,
      );
      if (action === "preserve") {
        this.release(d.domid, m);
        continue;
      }
      this.teardown(d.domid, true);
      if (action === "restart") {
        // libxl's reboot: the config it keeps, hotplugged devices and all, not the file again.
        try {
          this.start(m.cfg, false, () => {});
        } catch (e) {
          this.log(`restart of ${m.cfg.name} failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** Stops serving a domain's rings (it is gone or preserved for inspection). */
  private release(domid: number, m: Managed): void {
    if (m.unmapped) return;
    m.unmapped = true;
    this.consoled.detach(domid);
    this.store.releaseDomain(domid);
    for (const r of m.resources.reverse()) {
      try {
        if ("unmap" in r) r.unmap();
        else r.close();
      } catch (e) {
        this.log(`domain ${domid}: releasing a ring: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  private teardown(domid: number, destroy: boolean): void {
    const m = this.managed.get(domid);
    if (m) this.release(domid, m);
    if (destroy) {
      try {
        this.host.destroy(domid);
      } catch (e) {
        this.log(`destroy ${domid}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    removeDomainEntries(this.store, domid, m?.cfg.uuid);
    removeDiskEntries(this.store, domid);
    removeVifEntries(this.store, domid);
    this.managed.delete(domid);
  }
}
