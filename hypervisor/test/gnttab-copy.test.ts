// GNTTABOP_copy: by grant or by own frame, bounds, read-only destinations, pins held only during
// the copy; and the grantTableOp handlers (frame_list via copy_to_guest, -EFAULT, versions).
import { GuestFault } from "@pvkit/abi";
import { beforeEach, describe, expect, it } from "vitest";
import {
  DOMID_SELF,
  EFAULT,
  ENOSYS,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_host_map,
  GNTST_bad_copy_arg,
  GNTST_bad_domain,
  GNTST_bad_page,
  GNTST_general_error,
  GNTST_okay,
  GNTST_permission_denied,
  GTF_permit_access,
  GTF_readonly,
} from "../src/gnttab/consts.ts";
import { FakeGnttabHost } from "../src/gnttab/fake_host.ts";
import { GrantTables } from "../src/gnttab/gnttab.ts";
import { type GnttabCallContext, grantTableOp } from "../src/hypercalls/grant_table_op.ts";
import { GuestGrants } from "./gnttab-guest.ts";

let host: FakeGnttabHost;
let gt: GrantTables;
let g1: GuestGrants;
const bytes = (domid: number, gfn: number) => new Uint8Array(host.frameOf(domid, gfn)!.buffer);
const ptr = (o: { ref?: number; gmfn?: number; domid: number; offset: number }) => ({
  ref: o.ref ?? 0,
  gmfn: BigInt(o.gmfn ?? 0),
  domid: o.domid,
  offset: o.offset,
});

beforeEach(() => {
  host = new FakeGnttabHost();
  for (const d of [0, 1, 2]) host.addDomain(d);
  gt = new GrantTables(host);
  gt.setupTable(1, false, DOMID_SELF, 1);
  g1 = new GuestGrants(host.tableFrames.get(1)!);
});

describe("grant copy", () => {
  it("copies from a grant into the caller's own frame, pinning only meanwhile", () => {
    bytes(1, 2).set([1, 2, 3, 4, 5], 100);
    g1.grant(7, 2, 2, true);
    const st = gt.copy(2, {
      source: ptr({ ref: 7, domid: 1, offset: 100 }),
      dest: ptr({ gmfn: 3, domid: DOMID_SELF, offset: 4090 }),
      len: 5,
      flags: GNTCOPY_source_gref,
    });
    expect(st).toBe(GNTST_okay);
    expect([...bytes(2, 3).subarray(4090, 4095)]).toEqual([1, 2, 3, 4, 5]);
    expect(g1.flags(7)).toBe(GTF_permit_access | GTF_readonly);
  });
  it("copies into a writable grant; a read-only grant is not a destination", () => {
    bytes(2, 0).set([9, 8, 7]);
    g1.grant(8, 2, 1);
    g1.grant(9, 2, 1, true);
    const op = (ref: number) => ({
      source: ptr({ gmfn: 0, domid: DOMID_SELF, offset: 0 }),
      dest: ptr({ ref, domid: 1, offset: 10 }),
      len: 3,
      flags: GNTCOPY_dest_gref,
    });
    expect(gt.copy(2, op(9))).toBe(GNTST_permission_denied);
    expect([...bytes(1, 1).subarray(10, 13)]).toEqual([0, 0, 0]);
    expect(gt.copy(2, op(8))).toBe(GNTST_okay);
    expect([...bytes(1, 1).subarray(10, 13)]).toEqual([9, 8, 7]);
    expect(g1.flags(8)).toBe(GTF_permit_access);
  });
  it("validates bounds, frame-number copies, domains and grants", () => {
    g1.grant(1, 2, 0);
    const self = (gmfn: number, offset = 0) => ptr({ gmfn, domid: DOMID_SELF, offset });
    const gref = (ref: number, domid = 1) => ptr({ ref, domid, offset: 0 });
    const c = (source: ReturnType<typeof ptr>, dest: ReturnType<typeof ptr>, flags: number, len = 8) =>
      gt.copy(2, { source, dest, len, flags });
    expect(c(self(0, 4090), self(1), 0)).toBe(GNTST_bad_copy_arg);
    expect(c(self(0), self(1, 4089), 0)).toBe(GNTST_bad_copy_arg);
    expect(c(ptr({ gmfn: 0, domid: 1, offset: 0 }), self(1), 0)).toBe(GNTST_permission_denied);
    expect(c(ptr({ gmfn: 0, domid: 2, offset: 0 }), self(1), 0)).toBe(GNTST_permission_denied); // SELF only
    expect(c(self(99), self(1), 0)).toBe(GNTST_bad_page);
    expect(c(gref(1, 9), self(1), GNTCOPY_source_gref)).toBe(GNTST_bad_domain);
    expect(c(gref(2), self(1), GNTCOPY_source_gref)).toBe(GNTST_general_error); // not granted
    expect(c(gref(1), self(99), GNTCOPY_source_gref)).toBe(GNTST_bad_page);
    expect(g1.flags(1)).toBe(GTF_permit_access); // the failed copy released its source pin
    expect(c(self(0), self(1), 0, 4096)).toBe(GNTST_okay);
  });
});

describe("grantTableOp handlers", () => {
  function ctx(domid: number, mem: Map<bigint, Uint8Array>): GnttabCallContext {
    return {
      domid,
      privileged: domid === 0,
      gnttab: gt,
      copyFromGuest: () => {
        throw new Error("unused");
      },
      copyToGuest: (addr, b) => {
        if (addr < 0x1000n) throw new GuestFault(addr, b.length);
        mem.set(addr, b.slice());
      },
    };
  }

  it("setup_table writes u64 mfns to frame_list; a bad pointer is -EFAULT", () => {
    const mem = new Map<bigint, Uint8Array>();
    const op = { dom: DOMID_SELF, nr_frames: 2, status: 99, frame_list: 0x2000n };
    expect(grantTableOp.setupTable(ctx(2, mem), op)).toBe(0);
    expect(op.status).toBe(GNTST_okay);
    const v = new DataView(mem.get(0x2000n)!.buffer);
    expect([v.getBigUint64(0, true), v.getBigUint64(8, true)]).toEqual(
      host.tableFrames.get(2)!.map((f) => BigInt(f.mfn)),
    );
    expect(grantTableOp.setupTable(ctx(2, mem), { ...op, frame_list: 0x10n })).toBe(-EFAULT);
  });

  it("map, copy, unmap, query and versions through the structs", () => {
    const mem = new Map<bigint, Uint8Array>();
    g1.grant(3, 2, 1);
    const m = {
      host_addr: 0x5000n,
      flags: GNTMAP_host_map,
      ref: 3,
      dom: 1,
      status: 9,
      handle: 0,
      dev_bus_addr: 1n,
    };
    expect(grantTableOp.mapGrantRef(ctx(2, mem), m, 0)).toBe(0);
    expect(m).toMatchObject({ status: GNTST_okay, dev_bus_addr: 0n });
    bytes(2, 0)[0] = 42;
    const cp = {
      source: { u: { ref: 0, gmfn: 0n }, domid: DOMID_SELF, offset: 0 },
      dest: { u: { ref: 3, gmfn: 3n }, domid: 1, offset: 1 },
      len: 1,
      flags: GNTCOPY_dest_gref,
      status: 9,
    };
    expect(grantTableOp.copy(ctx(2, mem), cp)).toBe(0);
    expect(cp.status).toBe(GNTST_okay);
    expect(bytes(1, 1)[1]).toBe(42);
    const u = { host_addr: 0x5000n, dev_bus_addr: 0n, handle: m.handle, status: 9 };
    expect(grantTableOp.unmapGrantRef(ctx(2, mem), u)).toBe(0);
    expect(u.status).toBe(GNTST_okay);
    const q = { dom: 1, nr_frames: 0, max_nr_frames: 0, status: 9 };
    grantTableOp.querySize(ctx(0, mem), q);
    expect(q).toEqual({ dom: 1, nr_frames: 1, max_nr_frames: 32, status: GNTST_okay });
    const sv = { version: 2 };
    expect(grantTableOp.setVersion(ctx(2, mem), sv)).toBe(-ENOSYS);
    const gv = { dom: DOMID_SELF, version: 0 };
    expect(grantTableOp.getVersion(ctx(2, mem), gv)).toBe(0);
    expect(gv.version).toBe(1);
  });
});
