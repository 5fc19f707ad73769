/**
 * The Hypervisor: owns every machine frame, domain and vCPU, serves traps and drives domain
 * lifecycles. Guests reach it only through hypercalls (hypercalls/table.ts); the host reaches it
 * through the methods below (boot dom0, tests, benchmarks). Nothing a guest does can throw out of here:
 * bad input is an errno, a misbehaving guest is crashed alone.
 */
import { shutdownReasonName } from "@pvkit/abi";
import { EventEmitter } from "node:events";
import { totalmem } from "node:os";
import {
  DOMID_SELF,
  __HYPERVISOR_sched_op,
  SCHEDOP_block,
  SHUTDOWN_crash,
  SHUTDOWN_watchdog,
  VIRQ_DOM_EXC,
  EPERM,
  ESRCH,
} from "@pvkit/abi/layout";
import { dispatchHypercall } from "./generated/dispatch.ts";
import { Domain } from "./domain/domain.ts";
import { buildDomain, type BuildOptions, type BuildResult } from "./domain/builder.ts";
import { DozeWatch } from "./domain/doze-watch.ts";
import type { Vcpu } from "./domain/vcpu.ts";
import {
  assignWorker,
  cellBootData,
  startWorker,
  type WorkerEvents,
  type WorkerSpec,
} from "./domain/worker.ts";
import { CellHost, type PooledCell } from "./cell/cell-host.ts";
import { LocalPooled, localPoolBackend } from "./pool/local-pool.ts";
import { WarmPool, type PoolBackend } from "./pool/warm-pool.ts";
import { currentKernelImage, guestImage } from "./image/guest-image.ts";
import { TSX_API_URL, cellScript, supervisorScript } from "./image/supervisor-image.ts";
import { supervisorCodeFor } from "./image/supervisor-code.ts";
import { EventChannels } from "./evtchn/evtchn.ts";
import { GrantTables } from "./gnttab/gnttab.ts";
import { evtchnHost, gnttabHost } from "./hosts.ts";
import { DomainContext } from "./hypercalls/context.ts";
import { handlers } from "./hypercalls/table.ts";
import type { FrameTable } from "./memory/frames.ts";
import { MAX_GRANT_FRAMES, MachineMemory, PAGES_PER_MIB } from "./memory/machine-memory.ts";
import { MemoryWatch } from "./memory/watch.ts";
import { SHM_ADDON_PATH } from "./native/shm.ts";
import { Clock } from "./time/clock.ts";
import { tracedHypercall } from "./trace/hypercall-span.ts";
import { Tracer } from "./trace/tracer.ts";
import { ServiceBell } from "./transport/service-bell.ts";
import { TrapService } from "./transport/trap-service.ts";
import { setProcessV8Flags } from "./realm/v8-flags.ts";

const SCHEDOP_BLOCK = BigInt(SCHEDOP_block);

/**
 * What a domU's runtime costs the host while it idles, reserved at admission beside its memory (MiB):
 * a worker of the hypervisor's process takes ~9 MiB of PSS per idle 4 MiB guest, its touched memory
 * included (1000 up), and a cell ~18 MiB (50 up) once it has given its C heap back
 * (memory/heap-trim.ts). Some is kept in hand: a cell that just booted holds ~21 MiB until then.
 */
export const WORKER_OVERHEAD_MIB = 12;
export const CELL_OVERHEAD_MIB = 20;

export interface HypervisorOptions {
  /** Machine memory in MiB (default: 3/4 of the host's RAM, leaving the host at least 2 GiB). */
  memoryMiB?: number;
  /**
   * A domU whose worker stays busy (no idle moment in its event loop) this long is stopped with
   * SHUTDOWN_watchdog: it hangs, or hogs a core. Default 10 s.
   */
  hangTimeoutMs?: number;
  /**
   * Memory reserved per domain beyond its own at admission, in MiB: what its runtime costs the host
   * while it idles — a worker (WORKER_OVERHEAD_MIB) or with cells a process of its own
   * (CELL_OVERHEAD_MIB). `pnpm bench density` measures both.
   */
  domainOverheadMiB?: number;
  /** Echo each domain's console_io output to this sink (e.g. process.stderr). */
  consoleSink?: (domid: number, text: string) => void;
  /**
   * A domU's time-stamp counter is rounded up to this many ns (default 100 µs): no fine-grained clock
   * in a guest's realm (docs/security.md). 0 gives exact time, for benchmarks.
   */
  tscResolutionNs?: number;
  /** A domain's JS heap + ArrayBuffers may use its memory plus this many MiB (default 64). */
  jsOverheadMiB?: number;
  /**
   * Run each domU in a cell — a process of its own — rather than in the hypervisor's (default true):
   * what kills a process (V8 aborting on one allocation past a heap limit) then kills that domain
   * alone, not the hypervisor, dom0 and every other domain. Off, domains start a little faster.
   */
  cells?: boolean;
  /**
   * V8's own heap limit for a domU sits this far above its bound. In a cell (default 64 MiB) V8's
   * limit is one more bound: overshooting it ends the cell, so the domain. Without cells (default
   * 4096 MiB) it would end the whole host, so the bound is kept by the allocation gate and the memory
   * watch instead, and V8's limit only by what they cannot stop in time.
   */
  heapHeadroomMiB?: number;
  /**
   * Workers to keep started and prepared ahead of need, so creating a domU does not wait for a
   * worker (in a cell: a process) to start, SES to load and lockdown (default 0: none). `pvkit up
   * --pool N` sets it; pool/warm-pool.ts has the rules.
   */
  pool?: number;
  /** The domU size (maxmem, MiB) the pool prepares for until a domU is created (default 64). */
  poolMemoryMiB?: number;
}

export interface CreateDomainOptions {
  name: string;
  domid?: number;
  privileged?: boolean;
  memoryMiB: number;
  maxMemMiB?: number;
  /** Module the worker runs (default: the pvkit guest kernel entry). */
  kernel?: string;
  /** Guest program module URL (init). */
  program?: string;
  cmdline?: string;
  /** Console and xenstore rings with dom0 as back end (default: when dom0 exists). */
  rings?: boolean;
  /** Leave it paused (default: start it). */
  paused?: boolean;
}

export interface DomainListEntry {
  domid: number;
  name: string;
  memoryMiB: number;
  maxMemMiB: number;
  vcpus: number;
  state: string;
  cpuSeconds: number;
  shutdownReason?: number;
  crashReason?: string;
}

export class Hypervisor extends EventEmitter {
  readonly memory: MachineMemory;
  readonly frames: FrameTable;
  readonly domains = new Map<number, Domain>();
  readonly clock = new Clock();
  readonly trace = new Tracer();
  readonly evtchn: EventChannels;
  readonly gnttab: GrantTables;
  readonly trap: TrapService;
  /** The hypervisor's own console log (`pvkit dmesg`). */
  readonly log: string[] = [];
  /** Domains destroyed whose workers have not exited yet (they still hold frames). */
  private readonly dying = new Set<Domain>();
  private readonly contexts = new Map<Vcpu, DomainContext>();
  private watchdog?: NodeJS.Timeout;
  private readonly memoryWatch: MemoryWatch;
  /** Which domUs the tick reads (the others doze). */
  private readonly dozeWatch = new DozeWatch();
  /** Domain workers started so far (the memory watch allows for their boot). */
  private workersStarted = 0;
  /** What starts domUs in cells (made at the first domU). */
  private cellHost?: Promise<CellHost>;
  /** What domUs of this process ring when the trap service sleeps (cells off; serviceBell()). */
  private localBell?: ServiceBell;
  private closed = false;
  private readonly hangTimeoutMs: number;
  /** Workers prepared ahead of need (options.pool > 0). */
  readonly pool?: WarmPool;

  constructor(readonly options: HypervisorOptions = {}) {
    super();
    // Before any worker starts or any code cache is made: the flags are the process's.
    setProcessV8Flags();
    this.memory = new MachineMemory({
      memoryMiB: options.memoryMiB ?? defaultMachineMiB(),
      overheadPages:
        (options.domainOverheadMiB ?? (options.cells === false ? WORKER_OVERHEAD_MIB : CELL_OVERHEAD_MIB)) *
        PAGES_PER_MIB,
    });
    this.frames = this.memory.frames;
    this.hangTimeoutMs = options.hangTimeoutMs ?? 10_000;
    this.evtchn = new EventChannels(evtchnHost(this), { trace: this.trace });
    this.gnttab = new GrantTables(gnttabHost(this), { maxFrames: MAX_GRANT_FRAMES, trace: this.trace });
    // The doorbell is a frame of the hypervisor's own (incarnation 0): every worker gets it.
    this.trap = new TrapService((v, op, args) => this.hypercall(v, op, args), this.frames.alloc(0)!);
    if ((options.pool ?? 0) > 0) this.pool = this.makePool(options.pool!);
    this.memoryWatch = new MemoryWatch({
      boundOf: (d) => this.jsLimitBytes(d),
      workersStarted: () => this.workersStarted,
      // Told to end, still running: destroyed ones, and those shut down but not yet destroyed.
      ending: () => {
        const out = [...this.dying];
        for (const d of this.domains.values()) if (!d.alive && !d.gone) out.push(d);
        return out;
      },
      stop: (d, grew) =>
        this.shutdownDomain(
          d.domid,
          SHUTDOWN_crash,
          `out of memory: the host grew by ${Math.round(grew / 1048576)} MiB while it ran without a ` +
            `hypercall or a pause (bound ${Math.round(this.jsLimitBytes(d) / 1048576)} MiB)`,
        ),
    });
  }

  /** Starts trap service and the CPU watchdog; pre-fills the frame pool. */
  boot(): this {
    this.trap.start();
    // One timer for the host, not one a domain: a tick reads each worker's activity without waking
    // it (a cell's from its vCPU page, which the cell writes only while its worker is awake).
    this.watchdog = setInterval(() => this.sampleCpu(), Math.min(250, this.hangTimeoutMs / 4));
    this.watchdog.unref();
    // The watch's 20 ms tick runs only while some domU is awake (memory/watch.ts, realm/doze.ts).
    this.pool?.start();
    this.printk(`pvkit hypervisor: ${this.frames.maxFrames} frames (${this.frames.maxFrames / 256} MiB)`);
    return this;
  }

  printk(line: string): void {
    this.log.push(line);
    if (this.log.length > 1000) this.log.shift();
  }

  private hypercall(v: Vcpu, op: number, args: bigint[]) {
    let ctx = this.contexts.get(v);
    if (!ctx) this.contexts.set(v, (ctx = new DomainContext(this, v.domain, v)));
    // A counter a domain cannot fake: every trap passes here (pvkit_op domain_stats reads it, with
    // the EVTCHNOP_send count its handler keeps).
    v.domain.hypercalls++;
    // A booting domU is up once its vCPU stays blocked: the pool may refill (pool/warm-pool.ts).
    if (op === __HYPERVISOR_sched_op && args[0] === SCHEDOP_BLOCK && this.pool?.isBooting(v.domain)) {
      const traps = v.traps;
      this.pool.blocked(v.domain, () => v.traps === traps);
    }
    if (!this.trace.enabled) return dispatchHypercall(handlers, ctx, op, args);
    const c = ctx;
    return tracedHypercall(
      this.trace,
      c,
      v.domain.domid,
      v.id,
      op,
      args,
      () => dispatchHypercall(handlers, c, op, args),
      v,
    );
  }

  // ---- Domains -------------------------------------------------------------------------------

  /**
   * A domain shell, as XEN_DOMCTL_createdomain makes: no memory, no worker, paused. -ENOMEM when its
   * memory does not fit in what the machine has not promised to other domains.
   */
  newDomain(domid: number, name: string, maxPages: number, privileged = false): Domain | number {
    if (!Number.isInteger(domid) || domid < 0 || domid >= 0x7ff0) return -22;
    if (!Number.isSafeInteger(maxPages) || maxPages < 0) return -22;
    if (this.domains.has(domid)) return -17;
    const d = new Domain(domid, { name, maxPages, privileged });
    let admitted = this.memory.reserve(d.uid, maxPages);
    // A domain comes before workers kept for domains that may come: an idle pooled one gives way.
    while (admitted < 0 && this.pool?.evictOne()) admitted = this.memory.reserve(d.uid, maxPages);
    if (admitted < 0) return admitted;
    d.sharedInfo = this.frames.alloc(d.uid);
    const vcpuPage = this.frames.alloc(d.uid);
    if (!d.sharedInfo || !vcpuPage) {
      this.frames.retireOwned(d.uid);
      this.memory.release(d.uid);
      return -12;
    }
    d.attachVcpu(vcpuPage);
    this.clock.publish(new DataView(d.sharedInfo.buffer));
    this.domains.set(domid, d);
    this.trace.nameDomain(domid, name);
    this.trap.add(d.vcpu);
    this.emit("domain", { domid, state: "created" });
    return d;
  }

  freeDomid(): number {
    for (let id = 1; id < 0x7ff0; id++) if (!this.domains.has(id)) return id;
    return -1;
  }

  /** Populates memory, writes start_info, makes the rings: the domain builder. */
  build(d: Domain, opts: BuildOptions): BuildResult | number {
    return buildDomain(this, d, opts);
  }

  /** Host API: a complete domain in one call (dom0 at boot, tests, benchmarks). */
  createDomain(o: CreateDomainOptions): Domain {
    const domid = o.domid ?? this.freeDomid();
    const maxPages = Math.ceil(((o.maxMemMiB ?? o.memoryMiB) * 1024 * 1024) / 4096);
    const d = this.newDomain(domid, o.name, maxPages, o.privileged ?? false);
    if (typeof d === "number") throw new Error(`create domain ${domid}: errno ${-d}`);
    if (o.kernel) d.kernelUrl = o.kernel;
    if (o.program) d.programUrl = o.program;
    d.cmdline = o.cmdline ?? "";
    const rings = o.rings ?? (this.domains.has(0) && domid !== 0);
    const r = this.build(d, { nrPages: Math.ceil((o.memoryMiB * 1024 * 1024) / 4096), rings, backend: 0 });
    if (typeof r === "number") {
      this.destroyDomain(domid);
      throw new Error(`build domain ${domid}: errno ${-r}`);
    }
    if (!o.paused) this.unpauseDomain(domid);
    return d;
  }

  pauseDomain(domid: number): number {
    const d = this.domains.get(domid);
    if (!d || !d.alive) return -ESRCH;
    d.pauseCount++;
    d.state = "paused";
    this.emit("domain", { domid, state: "paused" });
    return 0;
  }

  unpauseDomain(domid: number): number {
    const d = this.domains.get(domid);
    if (!d || !d.alive) return -ESRCH;
    if (!d.built) return -22;
    if (d.pauseCount > 0) d.pauseCount--;
    if (d.pauseCount > 0) return 0;
    d.state = "running";
    if (!d.worker && !d.launching) d.launching = this.launch(d);
    this.trap.kick();
    this.emit("domain", { domid, state: "running" });
    return 0;
  }

  /** The domain stops running for `reason` (SHUTDOWN_*): its worker ends; dom0 hears VIRQ_DOM_EXC. */
  shutdownDomain(domid: number, reason: number, why?: string): number {
    const d = this.domains.get(domid);
    if (!d || !d.alive) return -ESRCH;
    d.state = "shutdown";
    d.shutdownReason = reason;
    if (why) d.crashReason = why;
    this.sampleOne(d);
    d.vcpu.clearTimers();
    this.trap.remove(d.vcpu);
    void d.worker?.terminate();
    this.pool?.bootEnded(d);
    this.printk(
      `domain ${domid} (${d.name}) shut down: ${shutdownReasonName(reason)}${why ? ` (${why})` : ""}`,
    );
    this.evtchn.sendVirq(0, VIRQ_DOM_EXC, 0);
    this.emit("domain", { domid, state: "shutdown", reason, why });
    return 0;
  }

  /**
   * Frees everything the domain had: worker, ports, grants, frames. Its frames go back to the pool
   * only once its worker (and every other worker that holds them) has exited: memory/frames.ts.
   */
  destroyDomain(domid: number): number {
    const d = this.domains.get(domid);
    if (!d) return -ESRCH;
    d.state = "dying";
    d.vcpu.clearTimers();
    this.trap.remove(d.vcpu);
    this.contexts.delete(d.vcpu);
    this.gnttab.destroyDomain(domid);
    this.evtchn.closeAll(domid);
    void d.worker?.terminate();
    d.p2m.clear();
    this.frames.retireOwned(d.uid);
    this.domains.delete(domid);
    this.pool?.bootEnded(d);
    d.state = "dead";
    if (!d.worker || d.gone) {
      d.gone = true;
      this.memory.release(d.uid);
    } else this.dying.add(d);
    if (domid !== 0) this.evtchn.sendVirq(0, VIRQ_DOM_EXC, 0);
    this.emit("domain", { domid, state: "destroyed" });
    return 0;
  }

  /** A domain's worker is gone (or never ran): what it held may be reused, its memory promise ends. */
  private gone(d: Domain): void {
    if (d.gone) return;
    d.gone = true;
    this.dying.delete(d);
    this.dozeWatch.gone(d);
    // A domain still in the table (shut down, not destroyed) keeps its memory until destroyed.
    if (this.domains.get(d.domid) === d) this.frames.holderGone(d.uid);
    else this.memory.release(d.uid);
  }

  /** The domain a caller names: itself for DOMID_SELF; another only with privilege. */
  targetDomain(ctx: DomainContext, domid: number): Domain | number {
    if (domid === DOMID_SELF || domid === ctx.domid) return ctx.domain;
    if (!ctx.privileged) return -EPERM;
    return this.domains.get(domid) ?? -ESRCH;
  }

  listDomains(): DomainListEntry[] {
    return [...this.domains.values()]
      .sort((a, b) => a.domid - b.domid)
      .map((d) => {
        this.sampleOne(d);
        const e: DomainListEntry = {
          domid: d.domid,
          name: d.name,
          memoryMiB: Math.round(d.pages / 256),
          maxMemMiB: Math.round(d.maxPages / 256),
          vcpus: 1,
          state: d.state,
          cpuSeconds: d.cpu.activeMs / 1000,
        };
        if (d.shutdownReason !== undefined) e.shutdownReason = d.shutdownReason;
        if (d.crashReason) e.crashReason = d.crashReason;
        return e;
      });
  }

  consoleLog(domid: number): string {
    return this.domains.get(domid)?.console.text() ?? "";
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    this.memoryWatch.stop();
    this.trap.stop();
    await this.pool?.close();
    const all = [...this.domains.values(), ...this.dying];
    // dom0 first closes its sockets (HostRelease), then every worker ends.
    await Promise.all(all.filter((d) => d.privileged).map((d) => d.worker?.release?.(2000)));
    await Promise.all(all.map((d) => d.worker?.terminate()));
    this.domains.clear();
    // The workers that held its id have ended (the pool's too), or end now: a pooled worker retired
    // without waiting, a launch that outlived close(). A late ring finds nothing behind the id.
    this.localBell?.close();
    this.localBell = undefined;
    if (this.cellHost) await (await this.cellHost).close();
  }

  /**
   * The trap service's bell for domUs of this process (cells off), made at the first one; none once
   * the hypervisor closes (a launch or a pool refill that outlived close() notifies instead).
   */
  private serviceBell(): number | undefined {
    if (this.closed) return undefined;
    this.localBell ??= new ServiceBell(() => this.trap.ring());
    return this.localBell.sender;
  }

  /** What starts domUs in cells (made at the first domU). */
  private cells(): Promise<CellHost> {
    this.cellHost ??= (async () => {
      const [cell, supervisor] = await Promise.all([cellScript(), supervisorScript()]);
      return new CellHost(
        this.frames.arena,
        { cell, supervisor },
        (line) => this.printk(line),
        () => this.trap.ring(),
      );
    })();
    return this.cellHost;
  }

  /** The warm pool: its workers in cells, or threads of this process with cells off. */
  private makePool(size: number): WarmPool {
    const headroom = this.domUHeadroomMiB();
    const poolMaxPages = (this.options.poolMemoryMiB ?? 64) * PAGES_PER_MIB;
    return new WarmPool({
      size,
      jsLimitBytes: poolMaxPages * 4096 + this.jsOverheadBytes(),
      backend: async (): Promise<PoolBackend> => {
        if (this.options.cells === false)
          return localPoolBackend({
            supervisor: await supervisorScript(),
            addon: SHM_ADDON_PATH,
            heapHeadroomMiB: headroom,
            serviceBell: this.serviceBell(),
          });
        const cells = await this.cells();
        return {
          prepare: (jsLimitBytes, kernel, lost) => cells.prepare(jsLimitBytes, headroom, kernel, lost),
        };
      },
      // What a pooled worker evaluates ahead: the kernel image programs run on (its text and id
      // cross to the worker; its table of export names is the image builder's).
      kernel: () => currentKernelImage().then(({ code, id }) => ({ code, id })),
      reserve: () => this.memory.reserveRuntime(),
      release: () => this.memory.releaseRuntime(),
      log: (line) => this.printk(line),
    });
  }

  /** V8's heap limit for a domU sits this far above its bound (options.heapHeadroomMiB). */
  private domUHeadroomMiB(): number {
    return this.options.heapHeadroomMiB ?? (this.options.cells === false ? 4096 : 64);
  }

  private jsOverheadBytes(): number {
    return (this.options.jsOverheadMiB ?? 64) * 1024 * 1024;
  }

  /** Whether `d` runs in a cell: every domU, unless cells are off. */
  private inCell(d: Domain): boolean {
    return !d.privileged && this.options.cells !== false;
  }

  /** A domain's JS allowance (heap + ArrayBuffers): its memory plus the fixed overhead. */
  jsLimitBytes(d: Domain): number {
    return d.maxPages * 4096 + this.jsOverheadBytes();
  }

  /**
   * Starts a domain's worker once its images are ready: the supervisor script, and for a domU its
   * guest image (built, or taken from the cache). A guest image that cannot be built crashes the
   * domain with the builder's message, which also goes to its console log.
   */
  private async launch(d: Domain): Promise<void> {
    try {
      const supervisor = await supervisorScript();
      // A worker from the pool if one fits (a debugger wants a worker started for it: cold). A
      // program (or the shell) runs on pvkit's kernel: a pooled worker has evaluated the kernel
      // image and takes the program's image linked to that very image; a cold one evaluates both
      // as one whole image.
      const poolable = !d.privileged && !d.inspectorPort && this.pool !== undefined;
      const kernel = poolable && !d.kernelUrl ? await currentKernelImage() : undefined;
      const cells = this.inCell(d) ? await this.cells() : undefined;
      if (!d.alive) return; // destroyed or shut down meanwhile
      const pooled = poolable ? this.pool?.take(this.jsLimitBytes(d), kernel?.id) : undefined;
      // Booting from here: a failed build or a destroy below ends it (shutdown and destroy say so),
      // and the pool refills instead of waiting for a domain that never boots.
      if (!d.privileged) this.pool?.bootStarted(d);
      const image = d.privileged
        ? undefined
        : await guestImage(
            {
              ...(d.programUrl ? { program: d.programUrl } : {}),
              ...(d.kernelUrl ? { kernel: d.kernelUrl } : {}),
              ...(!d.kernelUrl && !pooled ? { whole: true } : {}),
            },
            pooled ? kernel : undefined,
          ).catch(async (e: unknown) => {
            await pooled?.retire();
            throw e;
          });
      if (!d.alive) {
        await pooled?.retire(); // a pooled worker is never given back: it served nobody
        return;
      }
      this.memory.handAtBoot(d, this.trap.doorbellFrame);
      this.workersStarted++;
      const spec: WorkerSpec = {
        supervisor,
        // A domU's worker of this process compiles the supervisor with V8's code cache, once made.
        ...(d.privileged || cells ? {} : { code: supervisorCodeFor(supervisor) }),
        arena: { addon: SHM_ADDON_PATH, id: this.frames.arena.id },
        viewFrames: (mfn, pages) => this.frames.arena.view(mfn, pages),
        doorbell: this.trap.doorbellFrame.buffer,
        doorbellMfn: this.trap.doorbellFrame.mfn,
        ...(image ? { image } : {}),
        tsxApi: TSX_API_URL,
        jsLimitBytes: this.jsLimitBytes(d),
        heapHeadroomMiB: d.privileged ? 0 : this.domUHeadroomMiB(),
        tscResolutionNs: this.options.tscResolutionNs ?? 100_000,
        ...(d.privileged || cells ? {} : { serviceBell: this.serviceBell() }),
      };
      if (cells)
        cells.start(d, spec, cellBootData(d, spec), this.workerEvents(), pooled as PooledCell | undefined);
      else if (pooled) assignWorker(d, (pooled as LocalPooled).worker, spec, this.workerEvents());
      else startWorker(d, spec, this.workerEvents());
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      d.console.append(`${reason}\n`);
      if (d.alive) this.shutdownDomain(d.domid, SHUTDOWN_crash, reason);
    }
  }

  // ---- Faults ------------------------------------------------------------------------------

  private workerEvents(): WorkerEvents {
    return {
      onError: (d, reason) => {
        if (d.alive) this.shutdownDomain(d.domid, SHUTDOWN_crash, reason);
      },
      onExit: (d, code) => {
        if (d.alive) this.shutdownDomain(d.domid, SHUTDOWN_crash, `worker exited with code ${code}`);
      },
      onGone: (d) => this.gone(d),
    };
  }

  /** Updates `d`'s CPU account from its worker; returns its busy streak in ms. */
  private sampleOne(d: Domain): number {
    if (!d.worker || d.gone) return 0;
    return d.cpu.sample(d.worker);
  }

  /**
   * Every tick: account each awake worker's real CPU, and stop a domU that has been busy — no idle
   * moment in its event loop — for hangTimeoutMs, whatever its vCPU claims (blocked, paused or
   * running). A dozing domU is not read at all (domain/doze-watch.ts): it did nothing since its last
   * reading, and its account, being cumulative, catches up when it wakes.
   */
  private sampleCpu(): void {
    const awake: Domain[] = [];
    const now = performance.now();
    this.dozeWatch.tick();
    for (const d of this.domains.values()) {
      if (!d.worker || d.gone) continue;
      if (!d.privileged) {
        if (this.dozeWatch.dozes(d, now)) {
          d.cpu.rest();
          continue;
        }
        awake.push(d);
      }
      const busy = this.sampleOne(d);
      if (busy < this.hangTimeoutMs || !d.alive) continue;
      if (d.privileged) {
        this.printk(`domain ${d.domid} (${d.name}) busy for ${Math.round(busy)} ms`);
        continue;
      }
      this.shutdownDomain(d.domid, SHUTDOWN_watchdog, `busy for ${Math.round(busy)} ms without yielding`);
    }
    this.memoryWatch.mark(awake);
  }
}

/** 3/4 of the host's RAM, leaving the host itself at least 2 GiB (and never under 256 MiB). */
export function defaultMachineMiB(): number {
  const host = Math.floor(totalmem() / (1024 * 1024));
  return Math.max(256, Math.min(Math.floor(host * 0.75), host - 2048));
}
