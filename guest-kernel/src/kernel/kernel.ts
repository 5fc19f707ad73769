/**
 * The kernel object: owns every subsystem of one domain and the order they come up in (console
 * first so everything after can log, then events, time, xenstore, memory, tools). Boot code
 * builds one from BootInfo and calls start(); nothing else constructs subsystems. Shutdown runs
 * the registered driver close hooks before SCHEDOP_shutdown, newest first.
 */
import { Console } from "../console/console.ts";
import { Dmesg } from "../console/dmesg.ts";
import { XenStoreClient } from "../xenbus/client.ts";
import { Balloon } from "./balloon.ts";
import { Events } from "./events.ts";
import type { Hypercalls } from "@pvkit/abi/guest";
import type { XenOps } from "./hypervisor.ts";
import { PageAllocator } from "./mm.ts";
import { type KernelHandle, type ShutdownKind, formatArgs } from "./program.ts";
import { Scheduler } from "./sched.ts";
import { Clock, Timers } from "./time.ts";
import { SHUTDOWN_crash, SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_suspend } from "./xen.ts";
import { listDevices } from "./devices.ts";
import { GrantTable } from "./gnttab.ts";
import { Disks } from "../block/disks.ts";
import { type Mount, mountRoot } from "./rootfs.ts";
import { Nics } from "../net/nics.ts";
import { startIp } from "../net/stack/stack.ts";
import { frontendPlatform } from "./frontends.ts";
import type { FsApi } from "../fs/fs-api.ts";
import {
  type ForeignWindow,
  type ProgramGrants,
  type SharingDeps,
  programEvents,
  programGrants,
} from "./sharing.ts";

export type { SharedPage } from "./sharing.ts";

/** pvkit's version, printed in the boot banner. */
export const PVKIT_VERSION = "0.1.0";

/** Everything boot needs, already decoded by the arch layer from start_info. */
export interface BootInfo {
  domid: number;
  privileged: boolean;
  xen: XenOps;
  /** The typed hypercall SDK the kernel's XenOps are made of, for programs (KernelHandle.hc). */
  hc?: Hypercalls;
  sharedInfo: DataView;
  nrPages: number;
  /** The quota in pages (start_info only says what was populated). Defaults to nrPages. */
  maxPages?: number;
  /** pfns the boot layout uses (rings, start_info, ...); the allocator never hands them out. */
  reservedPfns?: number[];
  cmdLine: string;
  flags: number;
  /** The xenstore ring page and its event channel (absent: no xenstore, e.g. early dom0). */
  store?: { page: DataView; evtchn: number };
  /** The console ring page and its event channel (absent: console_io only, as dom0). */
  console?: { page: DataView; evtchn: number };
  /** The host "TSC" (tests pass a virtual one). */
  tsc?: () => bigint;
  /** A live view of one of our pages (drivers' shared rings and buffers). */
  page?: (pfn: number) => DataView;
  /** One view over consecutive pages of one run of our memory, or undefined (arch/memory.ts). */
  span?: (pfn: number, pages: number) => Uint8Array | undefined;
  /** Views of frames the hypervisor gave us by number (the grant table after setup_table). */
  mapFrames?: (frames: number[]) => DataView[];
  /** Where other domains' granted pages appear when we map them (absent: no grants.map). */
  foreign?: ForeignWindow;
}

/** How long shutdown waits for one driver's close hook (a stuck backend must not hold us). */
export const CLOSE_TIMEOUT_MS = 2000;

/**
 * Grant-table frames set up at first use: 8 frames = 4088 usable refs, room for a disk's pool and
 * shared buffers (up to 1024 pages each) beside the network's pools.
 */
export const GRANT_FRAMES = 8;

export const SHUTDOWN_REASONS: Record<ShutdownKind, number> = {
  poweroff: SHUTDOWN_poweroff,
  reboot: SHUTDOWN_reboot,
  suspend: SHUTDOWN_suspend,
  crash: SHUTDOWN_crash,
};

export class Kernel {
  readonly xen: XenOps;
  readonly console: Console;
  readonly dmesg = new Dmesg();
  readonly events: Events;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly sched: Scheduler;
  readonly mm: PageAllocator;
  readonly balloon: Balloon;
  xs: XenStoreClient | null = null;
  /** The disks blkfront connected at boot (none without xenstore). */
  disks: Disks | null = null;
  /** The network interfaces netfront connected at boot. */
  nics: Nics | null = null;
  /** The root file system, when the root disk holds ext2. */
  root: Mount | undefined;
  private gnttab: GrantTable | null = null;
  private grantsApi: ProgramGrants | undefined;
  private readonly closeHooks: { name: string; close: () => Promise<void> | void }[] = [];
  private down: ShutdownKind | null = null;

  constructor(readonly boot: BootInfo) {
    this.xen = boot.xen;
    this.console = new Console((bytes) => this.xen.consoleWrite(bytes));
    this.events = new Events(boot.sharedInfo, this.xen);
    this.clock = new Clock(boot.sharedInfo, 0, boot.tsc);
    this.timers = new Timers(this.clock, this.xen);
    this.sched = new Scheduler(this.events);
    this.mm = new PageAllocator(
      boot.nrPages,
      boot.maxPages ?? boot.nrPages,
      boot.reservedPfns ?? [],
      this.xen,
    );
    this.balloon = new Balloon(this.mm);
    this.events.onError = (port, e) => this.printk(`event ${port}: handler failed: ${errText(e)}`);
    this.timers.onError = (e) => this.printk(`timer callback failed: ${errText(e)}`);
    this.sched.onTaskError = (name, e) => this.printk(`task ${name} failed: ${errText(e)}`);
  }

  /** Logs a kernel message to dmesg and the console. */
  printk(msg: string): void {
    this.dmesg.add(this.clock.now(), msg);
    this.console.write(msg.endsWith("\n") ? msg : msg + "\n");
  }

  /** Brings up the console ring, VIRQ_TIMER, xenstore and the balloon, then prints the banner. */
  async start(): Promise<void> {
    const b = this.boot;
    if (b.console) {
      const port = b.console.evtchn;
      this.console.attach(b.console.page, () => this.events.notify(port));
      this.events.bind(port, () => this.console.poll());
    }
    const kib = b.nrPages * 4;
    this.printk(
      `pvkit ${PVKIT_VERSION} guest kernel: domain ${b.domid}${b.privileged ? " (privileged)" : ""}, ` +
        `${b.nrPages} pages (${kib >= 1024 ? `${(kib / 1024).toFixed(1)} MiB` : `${kib} KiB`})`,
    );
    if (b.cmdLine) this.printk(`command line: ${b.cmdLine}`);
    this.timers.init(this.events);
    if (b.store) {
      const port = b.store.evtchn;
      this.xs = new XenStoreClient(
        b.store.page,
        () => this.events.notify(port),
        (e) => this.printk(`xenstore watch callback failed: ${errText(e)}`),
      );
      this.events.bind(port, () => this.xs!.poll());
      this.balloon.onChange = (s) =>
        this.printk(`balloon: target ${s.targetPages} pages, now ${s.currentPages}`);
      // The balloon's watch, disks and network interfaces come up side by side: none waits for
      // another's replies or backend.
      await Promise.all([
        this.balloon.start(this.xs).catch((e) => this.printk(`balloon: ${errText(e)}`)),
        this.startDisks(this.xs),
        this.startNics(this.xs),
      ]);
    }
  }

  /** netfront for every vif the toolstack gave us, before init runs. */
  private async startNics(xs: XenStoreClient): Promise<void> {
    const page = this.boot.page;
    if (!page) return;
    const nics = new Nics({
      domid: this.boot.domid,
      xs,
      platform: frontendPlatform(this, xs, page, (line) => this.printk(`netfront: ${line}`)),
      log: (line) => this.printk(`netfront: ${line}`),
      cmdline: this.boot.cmdLine,
    });
    await nics.probe();
    this.nics = nics;
    this.onShutdown("network", () => nics.close());
    // Hotplug (`pvkit network-attach`): not waited for, so that boot does not pay the watch's
    // round trip.
    void nics.follow().catch((e: unknown) => this.printk(`netfront: following device/vif: ${String(e)}`));
  }

  /** blkfront for every disk the toolstack gave us, before init runs (as a root disk must be). */
  private async startDisks(xs: XenStoreClient): Promise<void> {
    const page = this.boot.page;
    if (!page) return;
    const disks = new Disks({
      domid: this.boot.domid,
      xs,
      platform: frontendPlatform(this, xs, page, (line) => this.printk(`blkfront: ${line}`), this.boot.span),
      // An eighth of memory at most, 48..1024 pages: enough for a few large requests in flight.
      poolPages: Math.max(48, Math.min(1024, Math.floor(this.boot.nrPages / 8))),
      inUse: (name) => this.root?.device === name,
      log: (line) => this.printk(`blkfront: ${line}`),
    });
    await disks.probe();
    this.disks = disks;
    this.onShutdown("disks", () => disks.close());
    // Hotplug, once the root is mounted (a detach must find it in use): not waited for, so that
    // boot does not pay the watch's round trip.
    const follow = () =>
      void disks.follow().catch((e: unknown) => this.printk(`blkfront: following device/vbd: ${String(e)}`));
    if (disks.list().length === 0) return follow();
    const seconds = () => Number(this.clock.wallclockNs() / 1_000_000_000n);
    this.root = await mountRoot(
      (n) => disks.get(n),
      this.boot.cmdLine,
      seconds,
      (l) => this.printk(l),
    );
    const root = this.root;
    // Registered after the disks, so it runs before them: sync and mark clean, then close.
    if (root) this.onShutdown("root file system", () => root.fs.unmount());
    follow();
  }

  /**
   * The grant table, set up on first use (GNTTABOP_setup_table, then the arch layer maps the
   * frames). Throws when this domain's arch layer cannot map hypervisor frames.
   */
  grantTable(): GrantTable {
    if (this.gnttab) return this.gnttab;
    if (!this.boot.mapFrames) throw new Error("grant table: the arch layer gave no mapFrames()");
    const frames = this.xen.gnttabSetupTable(GRANT_FRAMES);
    this.gnttab = new GrantTable(this.boot.mapFrames(frames));
    return this.gnttab;
  }

  /** Lending pages to other domains and mapping theirs (drivers and programs alike). */
  get grants(): ProgramGrants {
    return (this.grantsApi ??= programGrants(this.sharingDeps()));
  }

  private sharingDeps(): SharingDeps {
    const page = this.boot.page;
    return {
      xen: this.xen,
      events: this.events,
      mm: this.mm,
      grantTable: () => this.grantTable(),
      page: (pfn) => {
        if (!page) throw new Error("grants: the arch layer gave no page()");
        return page(pfn);
      },
      foreign: this.boot.foreign,
    };
  }

  /** Registers a driver's close hook, run at shutdown before the domain ends. */
  onShutdown(name: string, close: () => Promise<void> | void): void {
    this.closeHooks.push({ name, close });
  }

  get shuttingDown(): ShutdownKind | null {
    return this.down;
  }

  /**
   * Ends the domain: close drivers (newest first, each bounded by a timeout so a stuck backend
   * cannot hold the domain up), then SCHEDOP_shutdown with the SHUTDOWN_* reason, then stop the
   * loop. A second call while the first is running does nothing.
   */
  async shutdown(kind: ShutdownKind): Promise<void> {
    if (this.down) return;
    this.down = kind;
    this.printk(`shutdown: ${kind}`);
    for (const h of [...this.closeHooks].reverse()) {
      try {
        await this.timers.timeout(Promise.resolve().then(h.close), CLOSE_TIMEOUT_MS, `closing ${h.name}`);
      } catch (e) {
        this.printk(`shutdown: ${errText(e)}`);
      }
    }
    this.xs?.close("domain shutting down");
    try {
      this.xen.shutdown(SHUTDOWN_REASONS[kind]);
    } finally {
      this.sched.stop();
    }
  }

  /** The handle guest programs and the shell use. */
  handle(): KernelHandle {
    const need = () => {
      if (!this.xs) throw new Error("no xenstore in this domain");
      return this.xs;
    };
    const print = (...args: unknown[]) => this.console.write(formatArgs(args) + "\n");
    const sleep = (ms: number) => this.timers.sleep(ms);
    const hc = this.boot.hc;
    const kernel = this;
    const k: KernelHandle = {
      get hc(): Hypercalls {
        if (!hc) throw new Error("this kernel was booted without the hypercall SDK");
        return hc;
      },
      domid: this.boot.domid,
      privileged: this.boot.privileged,
      cmdline: this.boot.cmdLine,
      console: {
        print,
        write: (t) => this.console.write(t),
        readline: (p) => this.console.readline(p),
        onInterrupt: (h) => this.console.onInterrupt(h),
      },
      time: {
        sleep,
        uptimeMs: () => Number(this.clock.now() / 1000n) / 1000,
        now: () => new Date(Number(this.clock.wallclockNs() / 1_000_000n)),
      },
      xenstore: {
        read: (p) => need().read(p),
        tryRead: (p) => need().tryRead(p),
        write: (p, v) => need().write(p, v),
        mkdir: (p) => need().mkdir(p),
        rm: (p) => need().rm(p),
        ls: (p) => need().directory(p),
        getPerms: (p) => need().getPerms(p),
        setPerms: (p, perms) => need().setPerms(p, perms),
        watch: async (p, cb) => {
          const xs = need();
          const token = await xs.watch(p, (path) => cb(path));
          return () => xs.unwatch(token);
        },
      },
      events: programEvents(this.sharingDeps()),
      grants: this.grants,
      devices: () => (this.xs ? listDevices(this.xs) : Promise.resolve([])),
      get fs(): FsApi {
        if (!kernel.root)
          throw new Error(
            "no file system is mounted (the domain has no ext2 disk as its root, see k.mounts())",
          );
        return kernel.root.api;
      },
      mounts: () =>
        kernel.root
          ? [{ device: kernel.root.device, path: "/", type: "ext2", readonly: kernel.root.readonly }]
          : [],
      net: {
        list: () => this.nics?.list() ?? [],
        get: (name) => {
          const dev = this.nics?.get(name);
          if (!dev)
            throw new RangeError(
              `no network interface named ${name} (this domain has: ${
                this.nics
                  ?.list()
                  .map((d) => d.name)
                  .join(", ") || "none"
              })`,
            );
          return dev;
        },
        ip: (dev) => startIp(k, dev),
        connect: async (address, port, o) => (await startIp(k)).tcp.connect(address, port, o),
        listen: async (port, o) => (await startIp(k)).tcp.listen(port, o),
        udp: async (port, handler) => (await startIp(k)).udp.bind(port, handler),
      },
      blk: {
        list: () => this.disks?.list() ?? [],
        get: (name) => {
          const dev = this.disks?.get(name);
          if (!dev)
            throw new RangeError(
              `no disk named ${name} (this domain has: ${
                this.disks
                  ?.list()
                  .map((d) => d.name)
                  .join(", ") || "none"
              })`,
            );
          return dev;
        },
      },
      sys: {
        ps: () => this.sched.list(),
        mem: () => this.mm.stats(),
        dmesg: () => this.dmesg.format(),
        version: PVKIT_VERSION,
      },
      shutdown: async (kind = "poweroff") => {
        await this.shutdown(kind);
        // The domain is gone once SCHEDOP_shutdown returns; nothing after this should run.
        return new Promise<never>(() => undefined);
      },
      print,
      sleep,
    };
    return k;
  }
}

/** One line for an error of any kind. */
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
