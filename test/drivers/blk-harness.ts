/**
 * blkfront and blkback in one process, for driver tests: a small xenstore (values, and watches that
 * fire on writes at or under their path), grant tables and event channels between a "guest" and
 * "dom0", and real 4 KiB SharedArrayBuffer pages. Both drivers run the very code they run in
 * domains; only the hypervisor's part is played here. The disk is a real file served by dom0's
 * file store.
 */
import type { DriverStore } from "@pvkit/drivers/blk/protocol";
import type { BlkbackPlatform } from "@pvkit/drivers/blk/back";
import { BlkbackDevice } from "@pvkit/drivers/blk/back";
import type { BlkfrontPlatform } from "@pvkit/drivers/blk/front-xenbus";
import { Blkfront } from "@pvkit/drivers/blk/front-xenbus";
import { openFileStore } from "@pvkit/guest-kernel/dom0/blkback/file-store";
import { vdevNumber } from "@pvkit/drivers/blk/protocol";

export class MiniStore implements DriverStore {
  readonly values = new Map<string, string>();
  private readonly watches = new Set<{ path: string; cb: () => void }>();

  async read(path: string) {
    return this.values.get(path);
  }
  async write(path: string, value: string) {
    this.values.set(path, value);
    for (const w of this.watches) if (path === w.path || path.startsWith(w.path + "/")) queueMicrotask(w.cb);
  }
  async watch(path: string, cb: () => void) {
    const w = { path, cb };
    this.watches.add(w);
    queueMicrotask(cb);
    return () => void this.watches.delete(w);
  }
  get watchCount() {
    return this.watches.size;
  }
}

/** Pages and grants of the guest; dom0 maps them by ref. */
export class Machine {
  /** Each page's 4096 bytes: its own buffer, or a slice of a run's (allocRun). */
  readonly pages = new Map<number, Uint8Array>();
  readonly grants = new Map<number, { pfn: number; mapped: number }>();
  readonly ports = new Map<number, { handler: () => void; peer?: number }>();
  private nextPfn = 100;
  /** Pages blkback mapped through mapGrants (its batched first use of a request's pages). */
  batchMapped = 0;
  /** The most grants the guest's table holds (a full table refuses, as the kernel's does). */
  grantLimit = Infinity;
  private nextRef = 8;
  private nextPort = 1;
  logs: string[] = [];

  alloc() {
    const pfn = this.nextPfn++;
    const buf = new SharedArrayBuffer(4096);
    this.pages.set(pfn, new Uint8Array(buf));
    return { pfn, view: new DataView(buf) };
  }

  /** `n` consecutive pages in one buffer, as the kernel cuts them from a run of its memory. */
  allocRun(n: number) {
    const bytes = new Uint8Array(new SharedArrayBuffer(n * 4096));
    const pfns = Array.from({ length: n }, (_, i) => this.nextPfn + i);
    this.nextPfn += n;
    pfns.forEach((pfn, i) => this.pages.set(pfn, bytes.subarray(i * 4096, (i + 1) * 4096)));
    return { pfns, bytes };
  }

  front(store: DriverStore): BlkfrontPlatform {
    return {
      store,
      allocPage: () => this.alloc(),
      allocRun: (n) => this.allocRun(n),
      freePage: (pfn) => void this.pages.delete(pfn),
      grant: (_d, pfn) => {
        if (this.grants.size >= this.grantLimit) throw new RangeError("grant table full");
        const ref = this.nextRef++;
        this.grants.set(ref, { pfn, mapped: 0 });
        return ref;
      },
      endGrant: (ref) => {
        const g = this.grants.get(ref);
        if (g && g.mapped > 0) return false;
        this.grants.delete(ref);
        return true;
      },
      allocUnbound: (_d, onEvent) => {
        const port = this.nextPort++;
        this.ports.set(port, { handler: onEvent });
        return port;
      },
      notify: (port) => {
        const peer = this.ports.get(port)?.peer;
        if (peer !== undefined) queueMicrotask(() => this.ports.get(peer)?.handler());
      },
      closePort: (port) => void this.ports.delete(port),
      log: (l) => this.logs.push(l),
    };
  }

  back(store: DriverStore): BlkbackPlatform {
    const platform: BlkbackPlatform = {
      store,
      mapGrants: (d, refs) =>
        refs.map((ref) => {
          this.batchMapped++;
          try {
            return platform.mapGrant(d, ref);
          } catch {
            return undefined;
          }
        }),
      mapGrant: (_d, ref) => {
        const g = this.grants.get(ref);
        if (!g) throw new Error(`GNTST_bad_gntref: ${ref}`);
        g.mapped++;
        let live = true;
        return {
          bytes: this.pages.get(g.pfn)!,
          unmap: () => {
            if (live) g.mapped--;
            live = false;
          },
        };
      },
      bindInterdomain: (_d, remotePort, onEvent) => {
        const remote = this.ports.get(remotePort);
        if (!remote) throw new Error(`no port ${remotePort}`);
        const port = this.nextPort++;
        this.ports.set(port, { handler: onEvent, peer: remotePort });
        remote.peer = port;
        return port;
      },
      notify: (port) => {
        const peer = this.ports.get(port)?.peer;
        if (peer !== undefined) queueMicrotask(() => this.ports.get(peer)?.handler());
      },
      closePort: (port) => void this.ports.delete(port),
      openStore: (params, ro) => openFileStore(params, ro),
      log: (l) => this.logs.push(l),
    };
    return platform;
  }
}

/** The nodes the toolstack writes for a disk, then both drivers on them. */
export async function attach(image: string, opts: { readonly?: boolean; vdev?: string } = {}) {
  const store = new MiniStore();
  const machine = new Machine();
  const devid = vdevNumber(opts.vdev ?? "xvda");
  const fe = `/local/domain/1/device/vbd/${devid}`;
  const be = `/local/domain/0/backend/vbd/1/${devid}`;
  for (const [k, v] of [
    ["backend", be],
    ["backend-id", "0"],
    ["state", "1"],
    ["virtual-device", String(devid)],
    ["device-type", "disk"],
  ])
    await store.write(`${fe}/${k}`, v);
  for (const [k, v] of [
    ["frontend", fe],
    ["frontend-id", "1"],
    ["state", "1"],
    ["params", image],
    ["mode", opts.readonly ? "r" : "w"],
    ["type", "file"],
  ])
    await store.write(`${be}/${k}`, v);
  const back = new BlkbackDevice(machine.back(store), be, 1, devid);
  const front = new Blkfront(machine.front(store), fe);
  return { store, machine, back, front, fe, be };
}
