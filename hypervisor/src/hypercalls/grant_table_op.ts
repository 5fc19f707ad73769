/**
 * HYPERVISOR_grant_table_op: the GNTTABOP_* handlers, thin adapters from the decoded structs to
 * GrantTables. The dispatcher calls a handler once per element of the guest's array; each sets the
 * element's `status` (GNTST_*) and returns 0. Only a whole-call failure (a bad frame_list pointer,
 * an unsupported version) returns -errno.
 * Rule: the context must say who is calling (domid, privileged) and carry the GrantTables.
 */
import { GuestFault, type HypercallContext } from "@pvkit/abi";
import { EFAULT } from "../gnttab/consts.ts";
import type { GrantTables } from "../gnttab/gnttab.ts";

/** What these handlers need from the core's per-call context (DomainContext provides it). */
export interface GnttabCallContext extends HypercallContext {
  /** The calling domain. */
  readonly domid: number;
  /** The hypervisor's grant tables. */
  readonly gnttab: GrantTables;
}

// The argument shapes, field for field as the generated codecs in @pvkit/abi/layout decode them
// (C names). Declared structurally so this file does not depend on when codegen runs.
interface MapGrantRef {
  host_addr: bigint;
  flags: number;
  ref: number;
  dom: number;
  status: number;
  handle: number;
  dev_bus_addr: bigint;
}
interface UnmapGrantRef {
  host_addr: bigint;
  dev_bus_addr: bigint;
  handle: number;
  status: number;
}
interface SetupTable {
  dom: number;
  nr_frames: number;
  status: number;
  frame_list: bigint;
}
interface QuerySize {
  dom: number;
  nr_frames: number;
  max_nr_frames: number;
  status: number;
}
interface CopyPtrArg {
  u: { ref?: number; gmfn?: bigint };
  domid: number;
  offset: number;
}
interface Copy {
  source: CopyPtrArg;
  dest: CopyPtrArg;
  len: number;
  flags: number;
  status: number;
}
interface SetVersion {
  version: number;
}
interface GetVersion {
  dom: number;
  version: number;
}

/** gnttab_copy_ptr's union read both ways: ref is the low 32 bits of gmfn. */
function ptr(p: CopyPtrArg) {
  const gmfn = p.u.gmfn ?? BigInt(p.u.ref ?? 0);
  return { ref: p.u.ref ?? Number(gmfn & 0xffffffffn), gmfn, domid: p.domid, offset: p.offset };
}

/** The `grantTableOp` namespace of HypercallHandlers (each called once per array element). */
export const grantTableOp = {
  mapGrantRef(ctx: GnttabCallContext, op: MapGrantRef, _index?: number): number {
    const r = ctx.gnttab.mapGrantRef(ctx.domid, {
      hostAddr: op.host_addr,
      flags: op.flags,
      ref: op.ref,
      dom: op.dom,
    });
    op.status = r.status;
    op.handle = r.handle;
    op.dev_bus_addr = r.devBusAddr;
    return 0;
  },

  unmapGrantRef(ctx: GnttabCallContext, op: UnmapGrantRef, _index?: number): number {
    op.status = ctx.gnttab.unmapGrantRef(ctx.domid, op.host_addr, op.dev_bus_addr, op.handle);
    return 0;
  },

  setupTable(ctx: GnttabCallContext, op: SetupTable, _index?: number): number {
    const r = ctx.gnttab.setupTable(ctx.domid, ctx.privileged, op.dom, op.nr_frames);
    op.status = r.status;
    if (r.mfns.length === 0) return 0;
    // frame_list is a guest array of xen_pfn_t (u64): copy_to_guest, which may fault.
    const bytes = new Uint8Array(r.mfns.length * 8);
    const view = new DataView(bytes.buffer);
    r.mfns.forEach((mfn, i) => view.setBigUint64(i * 8, BigInt(mfn), true));
    try {
      ctx.copyToGuest(op.frame_list, bytes);
    } catch (e) {
      if (e instanceof GuestFault) return -EFAULT;
      throw e;
    }
    return 0;
  },

  querySize(ctx: GnttabCallContext, op: QuerySize, _index?: number): number {
    const r = ctx.gnttab.querySize(ctx.domid, ctx.privileged, op.dom);
    op.status = r.status;
    op.nr_frames = r.nrFrames;
    op.max_nr_frames = r.maxNrFrames;
    return 0;
  },

  copy(ctx: GnttabCallContext, op: Copy, _index?: number): number {
    op.status = ctx.gnttab.copy(ctx.domid, {
      source: ptr(op.source),
      dest: ptr(op.dest),
      len: op.len,
      flags: op.flags,
    });
    return 0;
  },

  setVersion(ctx: GnttabCallContext, op: SetVersion, _index?: number): number {
    const r = ctx.gnttab.setVersion(op.version);
    op.version = 1; // Xen writes back the version in effect
    return r;
  },

  getVersion(ctx: GnttabCallContext, op: GetVersion, _index?: number): number {
    const r = ctx.gnttab.getVersion(ctx.domid, ctx.privileged, op.dom);
    if (r < 0) return r;
    op.version = r;
    return 0;
  },
};
