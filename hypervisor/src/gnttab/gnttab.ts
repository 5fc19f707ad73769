/**
 * Grant tables v1: every domain's table, the mappings each domain holds (its maptrack, by handle),
 * and the GNTTABOP_* operations except copy (copy.ts). Per-op results are GNTST_* statuses, as Xen
 * puts them in each struct; whole-call failures are negated errnos. Nothing here throws on bad input.
 * Rule: call from the trap-service thread only; call destroyDomain() before the domain's frames go.
 */
import {
  DOMID_SELF,
  EINVAL,
  ENOMEM,
  ENOSYS,
  EPERM,
  ESRCH,
  ENTRIES_PER_FRAME,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_device_map,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_bad_dev_addr,
  GNTST_bad_domain,
  GNTST_bad_gntref,
  GNTST_bad_handle,
  GNTST_bad_page,
  GNTST_bad_virt_addr,
  GNTST_general_error,
  GNTST_no_space,
  GNTST_okay,
  GNTST_permission_denied,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_writing,
} from "./consts.ts";
import { type CopyPtr, grantCopy } from "./copy.ts";
import type { ForeignMapping, Frame, GnttabHost } from "./host.ts";
import { GrantTable } from "./table.ts";
import { grantMapFlow, grantReadFlow, grantWriteFlow } from "../trace/flows.ts";
import type { Tracer } from "../trace/tracer.ts";

/** Options for GrantTables. */
export interface GnttabOptions {
  /** Largest table a domain may set up, in frames (Xen's max_grant_frames); default 32. */
  maxFrames?: number;
  /** Most live mappings one domain may hold (its maptrack size); default 65536. */
  maxMappings?: number;
  /** Where maps and copies between domains are drawn as flows while tracing (trace/flows.ts). */
  trace?: Tracer;
}

/** map_grant_ref's inputs. */
export interface MapRequest {
  hostAddr: bigint;
  flags: number;
  ref: number;
  dom: number;
}

/** A mapping a domain holds, with what unmap must check. */
interface Mapping extends ForeignMapping {
  /** GNTMAP_host_map: the frame was handed to the mapper's worker. */
  readonly hostMap: boolean;
  readonly deviceMap: boolean;
}

/** All domains' grant tables and mappings. */
export class GrantTables {
  private readonly tables = new Map<number, GrantTable>();
  private readonly maptrack = new Map<number, Map<number, Mapping>>();
  private readonly nextHandle = new Map<number, number>();
  readonly maxFrames: number;
  private readonly maxMappings: number;
  private readonly trace?: Tracer;

  constructor(
    private readonly host: GnttabHost,
    opts: GnttabOptions = {},
  ) {
    this.maxFrames = opts.maxFrames ?? 32;
    this.maxMappings = opts.maxMappings ?? 65536;
    this.trace = opts.trace;
  }

  /** `domid`'s table if it has one (setup_table or seedGrant made it). */
  table(domid: number): GrantTable | undefined {
    return this.tables.get(domid);
  }

  /** Grows `domid`'s table to at least `nrFrames` frames. Returns false if frames ran out. */
  private grow(domid: number, nrFrames: number): boolean {
    let t = this.tables.get(domid);
    if (t === undefined) this.tables.set(domid, (t = new GrantTable()));
    while (t.frames.length < nrFrames) {
      const f = this.host.allocFrame(domid);
      if (f === undefined) return false;
      t.addFrame(f);
    }
    return true;
  }

  /** Resolves a `dom` argument to a domid, or a GNTST_* error. */
  private target(caller: number, privileged: boolean, dom: number): number {
    const d = dom === DOMID_SELF ? caller : dom;
    if (!this.host.domainExists(d)) return GNTST_bad_domain;
    if (d !== caller && !privileged) return GNTST_permission_denied;
    return d;
  }

  // ---- pins: the reference counts behind GTF_reading / GTF_writing ----

  /**
   * Pins `ref` of `granter` for `mapper`: validates the entry, sets the status bits and counts the
   * pin. Returns the frame, or a GNTST_* error with nothing changed.
   */
  pin(granter: number, ref: number, mapper: number, readonly: boolean): Frame | number {
    const t = this.tables.get(granter);
    if (t === undefined || !Number.isInteger(ref) || ref < 0 || ref >= t.nrEntries) return GNTST_bad_gntref;
    const st = t.setStatus(ref, mapper, readonly);
    if (st !== GNTST_okay) return st; // setStatus changed nothing
    const act = t.active.get(ref);
    if (act !== undefined) {
      if (readonly) act.readers++;
      else act.writers++;
      return act.frame;
    }
    const frame = this.host.frameOf(granter, t.gfn(ref));
    if (frame === undefined) {
      t.clearStatus(ref, GTF_reading | GTF_writing); // first pin: no one else holds these bits
      return GNTST_bad_page;
    }
    t.active.set(ref, { readers: readonly ? 1 : 0, writers: readonly ? 0 : 1, frame });
    return frame;
  }

  /** Drops one pin; clears GTF_writing with the last writer and GTF_reading with the last pin. */
  unpin(granter: number, ref: number, readonly: boolean): void {
    const t = this.tables.get(granter);
    const act = t?.active.get(ref);
    if (t === undefined || act === undefined) return;
    if (readonly) act.readers--;
    else act.writers--;
    if (!readonly && act.writers === 0) t.clearStatus(ref, GTF_writing);
    if (act.readers + act.writers === 0) {
      t.clearStatus(ref, GTF_reading);
      t.active.delete(ref);
    }
  }

  // ---- GNTTABOP_* ----

  /**
   * GNTTABOP_setup_table: grow `dom`'s table to `nrFrames` and give the frames to the caller's
   * worker. Returns the GNTST status and the mfns to write to frame_list.
   */
  setupTable(caller: number, privileged: boolean, dom: number, nrFrames: number) {
    const d = this.target(caller, privileged, dom);
    if (d < 0) return { status: d, mfns: [] as number[] };
    if (!Number.isInteger(nrFrames) || nrFrames < 0 || nrFrames > this.maxFrames) {
      return { status: GNTST_general_error, mfns: [] as number[] };
    }
    if (!this.grow(d, nrFrames)) return { status: GNTST_general_error, mfns: [] as number[] };
    const frames = this.tables.get(d)!.frames.slice(0, nrFrames);
    if (frames.length > 0) this.host.giveTableFrames(caller, frames);
    return { status: GNTST_okay, mfns: frames.map((f) => f.mfn) };
  }

  /** GNTTABOP_query_size: current and maximum table size in frames. */
  querySize(caller: number, privileged: boolean, dom: number) {
    const d = this.target(caller, privileged, dom);
    if (d < 0) return { status: d, nrFrames: 0, maxNrFrames: 0 };
    const nrFrames = this.tables.get(d)?.frames.length ?? 0;
    return { status: GNTST_okay, nrFrames, maxNrFrames: this.maxFrames };
  }

  /** GNTTABOP_map_grant_ref: pin the grant, hand its frame to the caller, return a handle. */
  mapGrantRef(caller: number, req: MapRequest): { status: number; handle: number; devBusAddr: bigint } {
    const fail = (status: number) => ({ status, handle: 0, devBusAddr: 0n });
    if ((req.flags & (GNTMAP_host_map | GNTMAP_device_map)) === 0) return fail(GNTST_bad_gntref);
    const granter = req.dom === DOMID_SELF ? caller : req.dom;
    if (!this.host.domainExists(granter)) return fail(GNTST_bad_domain);
    const handle = this.allocHandle(caller);
    if (handle < 0) return fail(GNTST_no_space);
    const readonly = (req.flags & GNTMAP_readonly) !== 0;
    const frame = this.pin(granter, req.ref, caller, readonly);
    if (typeof frame === "number") return fail(frame);
    const deviceMap = (req.flags & GNTMAP_device_map) !== 0;
    const hostMap = (req.flags & GNTMAP_host_map) !== 0;
    const { ref, hostAddr } = req;
    const m: Mapping = { handle, granter, ref, frame, hostAddr, readonly, hostMap, deviceMap };
    if (hostMap) {
      const st = this.host.mapForeign(caller, m);
      if (st !== GNTST_okay) {
        this.unpin(granter, req.ref, readonly);
        return fail(st < 0 ? st : GNTST_general_error);
      }
    }
    this.maptrack.get(caller)!.set(handle, m);
    if (this.trace?.enabled && granter !== caller) grantMapFlow(this.trace, granter, ref, caller, readonly);
    return { status: GNTST_okay, handle, devBusAddr: deviceMap ? BigInt(frame.mfn) << 12n : 0n };
  }

  /** GNTTABOP_unmap_grant_ref: drop the mapping `handle`; unpin its grant. */
  unmapGrantRef(caller: number, hostAddr: bigint, devBusAddr: bigint, handle: number): number {
    const m = this.maptrack.get(caller)?.get(handle);
    if (m === undefined) return GNTST_bad_handle;
    if (hostAddr !== 0n && hostAddr !== m.hostAddr) return GNTST_bad_virt_addr;
    if (devBusAddr !== 0n && (!m.deviceMap || devBusAddr !== BigInt(m.frame.mfn) << 12n)) {
      return GNTST_bad_dev_addr;
    }
    this.maptrack.get(caller)!.delete(handle);
    if (m.hostMap) this.host.unmapForeign(caller, m);
    this.unpin(m.granter, m.ref, m.readonly);
    return GNTST_okay;
  }

  /** GNTTABOP_copy, one op (see copy.ts). Returns its GNTST status. */
  copy(caller: number, op: { source: CopyPtr; dest: CopyPtr; len: number; flags: number }): number {
    const st = grantCopy(this, this.host, caller, op);
    if (st === GNTST_okay && this.trace?.enabled) this.traceCopy(caller, op);
    return st;
  }

  /** The flows of a copy that touched other domains' grants: the way the bytes went. */
  private traceCopy(caller: number, op: { source: CopyPtr; dest: CopyPtr; len: number; flags: number }) {
    const other = (p: CopyPtr) => (p.domid === DOMID_SELF ? caller : p.domid);
    const { source, dest, len } = op;
    if (op.flags & GNTCOPY_source_gref && other(source) !== caller)
      grantReadFlow(this.trace!, other(source), source.ref, caller, len);
    if (op.flags & GNTCOPY_dest_gref && other(dest) !== caller)
      grantWriteFlow(this.trace!, caller, other(dest), dest.ref, len);
  }

  /** The lowest unused handle of `domid`, or -1 when its maptrack is full. */
  private allocHandle(domid: number): number {
    let mt = this.maptrack.get(domid);
    if (mt === undefined) this.maptrack.set(domid, (mt = new Map()));
    if (mt.size >= this.maxMappings) return -1;
    let h = this.nextHandle.get(domid) ?? 0;
    while (mt.has(h)) h = (h + 1) % this.maxMappings;
    this.nextHandle.set(domid, (h + 1) % this.maxMappings);
    return h;
  }

  /** GNTTABOP_set_version: pvkit has v1 only. 0 for 1; -ENOSYS for 2 (as Xen with v2 off). */
  setVersion(version: number): number {
    if (version === 1) return 0;
    return version === 2 ? -ENOSYS : -EINVAL;
  }

  /** GNTTABOP_get_version: always 1 for an existing domain the caller may ask about. */
  getVersion(caller: number, privileged: boolean, dom: number): number {
    const d = dom === DOMID_SELF ? caller : dom;
    if (!this.host.domainExists(d)) return -ESRCH;
    if (d !== caller && !privileged) return -EPERM;
    return 1;
  }

  // ---- the hypervisor's own API ----

  /**
   * Writes a grant entry for the domain builder (xc_dom_gnttab_init): `domid` grants its frame
   * `gfn` to `backend` — refs GNTTAB_RESERVED_CONSOLE (0) and _XENSTORE (1) to dom0 before boot.
   * Returns 0, -ESRCH, -EINVAL (ref beyond the largest table) or -ENOMEM.
   */
  seedGrant(domid: number, ref: number, backend: number, gfn: number, readonly: boolean): number {
    if (!this.host.domainExists(domid)) return -ESRCH;
    if (!Number.isInteger(ref) || ref < 0 || ref >= this.maxFrames * ENTRIES_PER_FRAME) return -EINVAL;
    if (!Number.isInteger(gfn) || gfn < 0 || gfn > 0xffffffff) return -EINVAL;
    if (!this.grow(domid, Math.floor(ref / ENTRIES_PER_FRAME) + 1)) return -ENOMEM;
    this.tables.get(domid)!.write(ref, GTF_permit_access | (readonly ? GTF_readonly : 0), backend, gfn);
    return 0;
  }

  /** Whether `domid` holds a live mapping of `frame`. */
  maps(domid: number, frame: Frame): boolean {
    for (const m of this.maptrack.get(domid)?.values() ?? []) if (m.frame === frame) return true;
    return false;
  }

  /** Live mappings `domid` holds. */
  mappingCount(domid: number): number {
    return this.maptrack.get(domid)?.size ?? 0;
  }

  /**
   * A dying domain: unpin everything it mapped (clearing the bits in its granters), revoke every
   * mapping others hold of its grants (telling their workers), then free its table frames.
   */
  destroyDomain(domid: number): void {
    for (const m of this.maptrack.get(domid)?.values() ?? []) this.unpin(m.granter, m.ref, m.readonly);
    this.maptrack.delete(domid);
    this.nextHandle.delete(domid);
    for (const [mapper, mt] of this.maptrack) {
      for (const [h, m] of mt) {
        if (m.granter !== domid) continue;
        mt.delete(h);
        if (m.hostMap) this.host.unmapForeign(mapper, m);
        this.unpin(domid, m.ref, m.readonly);
      }
    }
    for (const f of this.tables.get(domid)?.frames ?? []) this.host.freeFrame(f);
    this.tables.delete(domid);
  }
}
