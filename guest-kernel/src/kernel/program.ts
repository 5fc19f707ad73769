/**
 * The guest program API: what a user's `export default async function main(k)` receives. `k` is
 * a typed handle over the kernel -- console, time, xenstore, event channels, grants, devices,
 * shutdown -- and `k.hc`, the
 * generated hypercall SDK over the kernel's own trap transport, for what the kernel does not wrap
 * (a new hypercall, docs/adding-a-hypercall.md). When main() returns, the kernel powers the domain
 * off; if it throws, the domain shuts down with reason crash.
 */
import type { Hypercalls } from "@pvkit/abi/guest";
import type { MemStats } from "./mm.ts";
import type { TaskInfo } from "./sched.ts";
import type { ProgramEvents, ProgramGrants } from "./sharing.ts";
import type { BlockDeviceInfo, DiskDevice } from "../block/device.ts";
import type { FsApi } from "../fs/fs-api.ts";
import type { NetDevice } from "../net/nics.ts";
import type {
  IpStack,
  TcpConnectOptions,
  TcpListenOptions,
  TcpServer,
  TcpSocket,
  UdpHandler,
  UdpSocket,
} from "../net/stack/stack.ts";

export type { NetDevice } from "../net/nics.ts";

export type { FsApi, FileHandle, Stats, Dirent } from "../fs/fs-api.ts";
export { FsError } from "../fs/errors.ts";

/** A mounted file system, as `mount` lists it. */
export interface MountInfo {
  device: string;
  path: string;
  type: string;
  readonly: boolean;
}

export type { BlockDevice, BlockDeviceInfo, DiskDevice } from "../block/device.ts";
export { BlockError } from "../block/device.ts";

export type { MappedGrant, ProgramEvents, ProgramGrants, SharedPage } from "./sharing.ts";
export { GrantError } from "./hypervisor.ts";

/** How a domain can end, as control/shutdown and SCHEDOP_shutdown name them. */
export type ShutdownKind = "poweroff" | "reboot" | "suspend" | "crash";

/** A device the toolstack gave this domain (xenstore `device/<type>/<id>`). */
export interface DeviceInfo {
  type: string;
  id: string;
  /** XenbusState of our end, as a number (4 = Connected). */
  state: number;
  backend: string;
}

/** The kernel as a program sees it. */
export interface KernelHandle {
  readonly domid: number;
  readonly privileged: boolean;
  /** The kernel command line from start_info. */
  readonly cmdline: string;
  readonly console: {
    /** Prints its arguments (strings as-is, others via String/JSON) and a newline. */
    print(...args: unknown[]): void;
    /** Writes text without adding a newline. */
    write(text: string): void;
    /** The next typed line, after printing `prompt`. */
    readline(prompt?: string): Promise<string>;
    /** Runs `handler` on Ctrl-C; returns a function that removes it. */
    onInterrupt(handler: () => void): () => void;
  };
  readonly time: {
    sleep(ms: number): Promise<void>;
    /** Milliseconds since boot (monotonic). */
    uptimeMs(): number;
    /** Wallclock time (from the hypervisor's wallclock). */
    now(): Date;
  };
  readonly xenstore: {
    /** Paths without a leading "/" are relative to /local/domain/<domid>. */
    read(path: string): Promise<string>;
    tryRead(path: string): Promise<string | undefined>;
    write(path: string, value: string): Promise<void>;
    mkdir(path: string): Promise<void>;
    rm(path: string): Promise<void>;
    ls(path: string): Promise<string[]>;
    /** Permissions as `xenstore-ls -p` shows them: ["n5", "r7"] = owner 5, others none, 7 may read. */
    getPerms(path: string): Promise<string[]>;
    /** Sets them (owner or dom0 only): how a domain lets one peer read what it publishes. */
    setPerms(path: string, perms: string[]): Promise<void>;
    /** Calls `cb` at once and on every change under `path`; returns an unwatch function. */
    watch(path: string, cb: (path: string) => void): Promise<() => Promise<void>>;
  };
  /**
   * Event channels to other domains: open a port for a peer or connect to one, kick it, close it
   * (docs/guest-programs.md walks through two guests talking over a shared page).
   */
  readonly events: ProgramEvents;
  /** Grant tables: lend pages to a peer, map the pages it lends us, or copy without mapping. */
  readonly grants: ProgramGrants;
  /** Devices from xenstore `device/`. */
  devices(): Promise<DeviceInfo[]>;
  /**
   * The root file system (ext2 on the root disk, mounted at boot), shaped like node:fs/promises:
   * `await k.fs.readFile("/etc/motd", "utf8")`. Throws when nothing is mounted (see mounts()).
   * Errors are FsError with node's codes and words (ENOENT: no such file or directory, open '/x').
   */
  readonly fs: FsApi;
  /**
   * The network interfaces of `vif = [...]` in the domain's config (netfront, vmxnet-style), by name
   * (eth0, eth1, ...): raw Ethernet frames out with send(), in through onFrame().
   */
  readonly net: {
    list(): NetDevice[];
    /** The interface named `name`; throws RangeError when there is none. */
    get(name: string): NetDevice;
    /**
     * The IPv4 stack on `dev` (eth0), started on first use with the vif's `ip=` address and
     * shared by every program and the shell: ping, ARP, counters, UDP and TCP.
     */
    ip(dev?: string): Promise<IpStack>;
    /**
     * A TCP connection to `address`:`port` on eth0's stack: `for await (const chunk of sock)`
     * reads, `await sock.write(data)` writes with backpressure, `await sock.end()` closes.
     */
    connect(address: string, port: number, o?: TcpConnectOptions): Promise<TcpSocket>;
    /** Listens on TCP `port`: `for await (const sock of server)` accepts connections. */
    listen(port: number, o?: TcpListenOptions): Promise<TcpServer>;
    /** A UDP socket on `port` (0: any free port) whose datagrams go to `handler`. */
    udp(port: number, handler: UdpHandler): Promise<UdpSocket>;
  };
  /** What is mounted where (empty without a root disk). */
  mounts(): MountInfo[];
  /**
   * The disks of `disk = [...]` in the domain's config, connected at boot (blkfront), and those
   * `pvkit block-attach` adds while it runs (until `block-detach` takes them): read, write, flush
   * and discard by 512-byte sector. Data is copied through pages granted to dom0 once, except
   * in a disk's buffer(), whose own pages are granted: I/O on it is not copied.
   */
  readonly blk: {
    /** Every disk, sorted by name (xvda, xvdb, ...). */
    list(): BlockDeviceInfo[];
    /** The disk named `name`; throws RangeError when there is none. */
    get(name: string): DiskDevice;
  };
  /** Kernel state for tools like the shell's ps/free/dmesg. */
  readonly sys: {
    ps(): TaskInfo[];
    mem(): MemStats;
    dmesg(): string;
    version: string;
  };
  /** Closes drivers and ends the domain. Never resolves. */
  shutdown(kind?: ShutdownKind): Promise<never>;
  /**
   * Every hypercall, typed, as the kernel itself makes them (`k.hc.xenVersion.version()`); failures
   * throw XenError with the errno. Kernel-level power: leave alone what the kernel owns (the ports
   * it bound, the frames it allocated, its rings).
   */
  readonly hc: Hypercalls;
  /** Shorthands for console.print and time.sleep. */
  print(...args: unknown[]): void;
  sleep(ms: number): Promise<void>;
}

/** A guest program module. */
export interface ProgramModule {
  default: (k: KernelHandle) => Promise<unknown> | unknown;
}

/** Formats print() arguments the way console.log would, minus colours. */
export function formatArgs(args: unknown[]): string {
  return args
    .map((a) => {
      if (typeof a === "string") return a;
      if (a instanceof Error) return a.stack ?? a.message;
      if (typeof a === "object" && a !== null) {
        try {
          return JSON.stringify(a, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
        } catch {
          return String(a);
        }
      }
      return String(a);
    })
    .join(" ");
}

/**
 * Loads a program module by URL and checks its shape. A module without a default export
 * function is refused with a one-line reason instead of failing later.
 */
export async function loadProgram(url: string): Promise<ProgramModule["default"]> {
  let mod: Partial<ProgramModule>;
  try {
    mod = (await import(url)) as Partial<ProgramModule>;
  } catch (e) {
    throw new Error(`cannot load program ${url}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof mod.default !== "function") {
    throw new Error(`program ${url} has no default export function main(k)`);
  }
  return mod.default;
}
