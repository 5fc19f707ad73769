/**
 * Sharing with other domains, as a guest program does it: event channels to kick a peer and grants
 * to lend it pages. Two domains that want to talk (a split driver, a vchan) meet in three steps, the
 * same in Xen and here:
 *
 *   1. one side lends a page (`grants.share(peer)` → a grant ref) and opens a port for the peer
 *      (`events.allocUnbound(peer, onEvent)` → a port), and publishes both numbers in xenstore;
 *   2. the other side reads them, maps the page (`grants.map(peer, ref)`) and connects to the port
 *      (`events.bindInterdomain(peer, port, onEvent)`);
 *   3. each writes into the shared page, then `events.notify(port)`: the peer's handler runs.
 *
 * The program owns only what it opened here: the kernel's own ports (console, xenstore, timer) and
 * grants (rings it set up) cannot be notified, closed or released through this API, so a program bug
 * cannot cut the kernel off from its console. Everything a program opened is closed at shutdown by
 * the hypervisor with the domain, as in Xen.
 */
import type { Events } from "./events.ts";
import { GrantError, MAP_BATCH, type XenOps } from "./hypervisor.ts";
import type { PageAllocator } from "./mm.ts";
import type { GrantTable } from "./gnttab.ts";
import { PAGE_SIZE } from "./xen.ts";

/** Where granted frames of other domains become visible (the arch layer's foreign-mapping window). */
export interface ForeignWindow {
  /** A free address to ask map_grant_ref to map at. */
  reserve(): bigint;
  /** The frame now mapped at `hostAddr` (valid after map_grant_ref returned GNTST_okay). */
  view(hostAddr: bigint): DataView;
  release(hostAddr: bigint): void;
}

/** A page of ours lent to a peer. */
export interface SharedPage {
  /** The grant ref to tell the peer (xenstore, a ring). */
  readonly ref: number;
  /** The domain it is lent to. */
  readonly domid: number;
  readonly pfn: number;
  /** The peer may only read it. */
  readonly readonly: boolean;
  /** The page itself: what we write here, the peer sees (and the other way round). */
  readonly view: DataView;
  /**
   * Ends the grant and frees the page. Returns false, keeping both, while the peer still has it
   * mapped: a page a peer can write must never be reused (ask again once the peer unmapped).
   */
  release(): boolean;
}

/** A peer's page mapped into ours. */
export interface MappedGrant {
  readonly domid: number;
  readonly ref: number;
  readonly readonly: boolean;
  /**
   * The peer's page. Read-write: live, both sides see each other's writes. Read-only: a copy taken
   * when it was mapped (pvkit never lets a domain hold a frame it may not write, see docs/security.md),
   * so later writes by the peer do not show; map again, or use grants.copyFrom, to see them.
   */
  readonly view: DataView;
  /** Unmaps it; the view must not be used after. */
  unmap(): void;
}

/** Event channels, as a program uses them. Handlers run on the kernel's loop; they must not block. */
export interface ProgramEvents {
  /** Opens a port `remoteDom` can connect to (bindInterdomain); `onEvent` runs on each of its kicks. */
  allocUnbound(remoteDom: number, onEvent: (port: number) => void): number;
  /** Connects to `remotePort`, a port `remoteDom` opened for us; returns our end. */
  bindInterdomain(remoteDom: number, remotePort: number, onEvent: (port: number) => void): number;
  /** Kicks the other end of `port`. */
  notify(port: number): void;
  /** Closes `port`; the peer's end becomes unbound. */
  close(port: number): void;
}

/** Grant tables, as a program uses them. Failures throw GrantError naming the GNTST_* status. */
export interface ProgramGrants {
  /** Lends a fresh, zeroed page of ours to `domid` (read-write unless `readonly`). */
  share(domid: number, opts?: { readonly?: boolean }): SharedPage;
  /** Maps page `ref` that `domid` lent us. */
  map(domid: number, ref: number, opts?: { readonly?: boolean }): MappedGrant;
  /**
   * Maps many pages `domid` lent us, in as few hypercalls as fit (Xen's batched map_grant_ref):
   * each ref's mapping, or the GrantError that says why that one did not map.
   */
  mapMany(
    domid: number,
    refs: readonly number[],
    opts?: { readonly?: boolean },
  ): (MappedGrant | GrantError)[];
  /** Copies `length` bytes at `offset` of `domid`'s grant `ref` to us (GNTTABOP_copy: no mapping). */
  copyFrom(domid: number, ref: number, offset: number, length: number): Uint8Array;
  /** Copies `data` into `domid`'s grant `ref` at `offset` (it must have granted write access). */
  copyTo(domid: number, ref: number, offset: number, data: Uint8Array): void;
}

/** What the sharing API needs from the kernel. */
export interface SharingDeps {
  xen: XenOps;
  events: Events;
  mm: PageAllocator;
  grantTable(): GrantTable;
  page(pfn: number): DataView;
  foreign?: ForeignWindow;
}

/** The program's event-channel API over the kernel's Events, limited to ports it opened. */
export function programEvents(d: SharingDeps): ProgramEvents {
  const mine = new Set<number>();
  const owned = (port: number, what: string): void => {
    if (!mine.has(port)) throw new RangeError(`${what}: port ${port} was not opened by this program`);
  };
  return {
    allocUnbound(remoteDom, onEvent) {
      const port = d.events.allocUnbound(remoteDom, onEvent);
      mine.add(port);
      return port;
    },
    bindInterdomain(remoteDom, remotePort, onEvent) {
      const port = d.events.bindInterdomain(remoteDom, remotePort, onEvent);
      mine.add(port);
      return port;
    },
    notify(port) {
      owned(port, "notify");
      d.events.notify(port);
    },
    close(port) {
      owned(port, "close");
      mine.delete(port);
      d.events.close(port);
    },
  };
}

/** Checks a byte range inside one page, as GNTTABOP_copy wants it. */
function checkRange(what: string, offset: number, length: number): void {
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0) {
    throw new RangeError(`${what}: offset ${offset} and length ${length} must be whole bytes`);
  }
  if (offset + length > PAGE_SIZE) {
    throw new RangeError(`${what}: ${offset}+${length} crosses the end of the ${PAGE_SIZE}-byte page`);
  }
}

/** The program's grant API over the kernel's grant table, allocator and foreign window. */
export function programGrants(d: SharingDeps): ProgramGrants {
  const window = (what: string): ForeignWindow => {
    if (!d.foreign) throw new Error(`${what}: this domain's arch layer has no foreign-mapping window`);
    return d.foreign;
  };
  /** A page mapped at `addr` with `handle`, unmapped once whatever calls unmap() after. */
  const mapped = (
    w: ForeignWindow,
    domid: number,
    ref: number,
    readonly: boolean,
    addr: bigint,
    handle: number,
  ): MappedGrant => {
    let live = true;
    return {
      domid,
      ref,
      readonly,
      view: w.view(addr),
      unmap() {
        if (!live) return;
        live = false;
        d.xen.gnttabUnmap(addr, handle);
        w.release(addr);
      },
    };
  };
  // One page of ours is the near side of every copy (GNTTABOP_copy names our memory by frame).
  let bounce: number | undefined;
  const bouncePfn = (): number => (bounce ??= d.mm.alloc());

  return {
    share(domid, opts = {}) {
      const gt = d.grantTable();
      const readonly = opts.readonly ?? false;
      const pfn = d.mm.alloc();
      const view = d.page(pfn);
      // Zero before granting: the peer must never see what the page held before.
      new Uint8Array(view.buffer, view.byteOffset, view.byteLength).fill(0);
      let ref: number;
      try {
        ref = gt.grantAccess(domid, pfn, readonly);
      } catch (e) {
        d.mm.free(pfn);
        throw e;
      }
      let released = false;
      return {
        ref,
        domid,
        pfn,
        readonly,
        view,
        release() {
          if (released) return true;
          if (!gt.endAccess(ref)) return false;
          d.mm.free(pfn);
          released = true;
          return true;
        },
      };
    },

    map(domid, ref, opts = {}) {
      const w = window("grants.map");
      const readonly = opts.readonly ?? false;
      const addr = w.reserve();
      let handle: number;
      try {
        handle = d.xen.gnttabMap(domid, ref, addr, readonly);
      } catch (e) {
        w.release(addr);
        throw e;
      }
      return mapped(w, domid, ref, readonly, addr, handle);
    },

    mapMany(domid, refs, opts = {}) {
      const w = window("grants.mapMany");
      const readonly = opts.readonly ?? false;
      const out: (MappedGrant | GrantError)[] = [];
      for (let i = 0; i < refs.length; i += MAP_BATCH) {
        const ops = refs
          .slice(i, i + MAP_BATCH)
          .map((ref) => ({ domid, ref, hostAddr: w.reserve(), readonly }));
        let results: (number | GrantError)[];
        try {
          results = d.xen.gnttabMapBatch(ops);
        } catch (e) {
          // The call failed as a whole: undo this batch's slots and the batches mapped before it.
          for (const o of ops) w.release(o.hostAddr);
          for (const m of out) if (!(m instanceof GrantError)) m.unmap();
          throw e;
        }
        results.forEach((r, k) => {
          const o = ops[k]!;
          if (r instanceof GrantError) {
            w.release(o.hostAddr);
            out.push(r);
          } else out.push(mapped(w, domid, o.ref, readonly, o.hostAddr, r));
        });
      }
      return out;
    },

    copyFrom(domid, ref, offset, length) {
      checkRange("grants.copyFrom", offset, length);
      const pfn = bouncePfn();
      d.xen.gnttabCopy({ source: { domid, ref, offset }, dest: { pfn, offset: 0 }, len: length });
      const page = d.page(pfn);
      return new Uint8Array(page.buffer, page.byteOffset, length).slice();
    },

    copyTo(domid, ref, offset, data) {
      checkRange("grants.copyTo", offset, data.length);
      const pfn = bouncePfn();
      const page = d.page(pfn);
      new Uint8Array(page.buffer, page.byteOffset, data.length).set(data);
      d.xen.gnttabCopy({ source: { pfn, offset: 0 }, dest: { domid, ref, offset }, len: data.length });
    },
  };
}
