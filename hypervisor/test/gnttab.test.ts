// GrantTables: setup/query, map/unmap with the status bits and their reference counts, version
// ops, seeding, and domain destroy — over real SharedArrayBuffer frames, with dom1 granting to dom2.
import { beforeEach, describe, expect, it } from "vitest";
import {
  DOMID_SELF,
  EINVAL,
  ENOSYS,
  EPERM,
  ESRCH,
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
} from "../src/gnttab/consts.ts";
import { FakeGnttabHost } from "../src/gnttab/fake_host.ts";
import { GrantTables } from "../src/gnttab/gnttab.ts";
import { GuestGrants } from "./gnttab-guest.ts";

let host: FakeGnttabHost;
let gt: GrantTables;
let g1: GuestGrants;
const RW = GNTMAP_host_map;
const RO = GNTMAP_host_map | GNTMAP_readonly;
const map = (ref: number, flags = RW, dom = 1, caller = 2, hostAddr = 0x10000n) =>
  gt.mapGrantRef(caller, { hostAddr, flags, ref, dom });

beforeEach(() => {
  host = new FakeGnttabHost();
  for (const d of [0, 1, 2]) host.addDomain(d);
  gt = new GrantTables(host, { maxFrames: 4 });
  expect(gt.setupTable(1, false, DOMID_SELF, 1).status).toBe(GNTST_okay);
  g1 = new GuestGrants(host.tableFrames.get(1)!);
});

describe("setup_table and query_size", () => {
  it("allocates frames, hands them to the worker and grows on demand", () => {
    const first = host.tableFrames.get(1)!.map((f) => f.mfn);
    const r = gt.setupTable(1, false, DOMID_SELF, 3);
    expect(r.status).toBe(GNTST_okay);
    expect(r.mfns).toHaveLength(3);
    expect(r.mfns[0]).toBe(first[0]); // the existing frame is kept
    expect(host.tableFrames.get(1)!.map((f) => f.mfn)).toEqual(r.mfns);
    expect(gt.querySize(1, false, DOMID_SELF)).toEqual({ status: GNTST_okay, nrFrames: 3, maxNrFrames: 4 });
    expect(gt.setupTable(1, false, DOMID_SELF, 1).mfns).toEqual([first[0]]);
  });
  it("refuses too many frames, other domains and unknown domains", () => {
    expect(gt.setupTable(1, false, DOMID_SELF, 5).status).toBe(GNTST_general_error);
    expect(gt.setupTable(1, false, 2, 1).status).toBe(GNTST_permission_denied);
    expect(gt.setupTable(0, true, 2, 1).status).toBe(GNTST_okay);
    expect(gt.setupTable(0, true, 9, 1).status).toBe(GNTST_bad_domain);
    expect(gt.querySize(1, false, 0).status).toBe(GNTST_permission_denied);
    expect(gt.querySize(1, false, 9).status).toBe(GNTST_bad_domain);
    host.framesLeft = 0;
    expect(gt.setupTable(2, false, DOMID_SELF, 4).status).toBe(GNTST_general_error);
  });
});

describe("map_grant_ref / unmap_grant_ref", () => {
  it("maps a grant: hands over the granter's frame and sets reading+writing", () => {
    g1.grant(5, 2, 3);
    const r = map(5);
    expect(r.status).toBe(GNTST_okay);
    const handed = host.mapped.get(2)!.get(r.handle)!;
    expect(handed.frame).toBe(host.frameOf(1, 3)); // the very frame: writes are shared
    expect(handed).toMatchObject({ granter: 1, ref: 5, readonly: false, hostAddr: 0x10000n });
    expect(g1.flags(5)).toBe(GTF_permit_access | GTF_reading | GTF_writing);
    expect(g1.endAccess(5)).toBe(false); // the guest cannot revoke while mapped
    expect(gt.unmapGrantRef(2, 0x10000n, 0n, r.handle)).toBe(GNTST_okay);
    expect(g1.flags(5)).toBe(GTF_permit_access);
    expect(host.mapped.get(2)!.size).toBe(0);
    expect(g1.endAccess(5)).toBe(true);
    expect(map(5).status).toBe(GNTST_general_error); // access ended
  });
  it("a read-only grant maps read-only only", () => {
    g1.grant(6, 2, 0, true);
    expect(map(6, RW).status).toBe(GNTST_permission_denied);
    expect(g1.flags(6)).toBe(GTF_permit_access | GTF_readonly); // refused map left no bits
    const r = map(6, RO);
    expect(r.status).toBe(GNTST_okay);
    expect(g1.flags(6)).toBe(GTF_permit_access | GTF_readonly | GTF_reading);
    expect(host.mapped.get(2)!.get(r.handle)!.readonly).toBe(true);
  });
  it("checks the entry: granted to the mapper, permit_access, ref in range, domain known", () => {
    g1.grant(7, 0, 0); // granted to dom0, not dom2
    expect(map(7).status).toBe(GNTST_general_error);
    expect(map(8).status).toBe(GNTST_general_error); // never granted
    g1.rawWord(9, 2 | (2 << 16)); // GTF_accept_transfer is not a mapping grant
    expect(map(9).status).toBe(GNTST_general_error);
    expect(map(512).status).toBe(GNTST_bad_gntref); // one frame = 512 entries
    expect(map(-1).status).toBe(GNTST_bad_gntref);
    expect(map(0, RW, 9).status).toBe(GNTST_bad_domain);
    expect(map(0, RW, 0).status).toBe(GNTST_bad_gntref); // dom0 has no table
    g1.grant(10, 2, 0);
    expect(map(10, GNTMAP_readonly).status).toBe(GNTST_bad_gntref); // neither host nor device map
    g1.grant(11, 2, 99); // gfn 99 is not populated
    expect(map(11).status).toBe(GNTST_bad_page);
    expect(g1.flags(11)).toBe(GTF_permit_access);
    expect(gt.mappingCount(2)).toBe(0);
  });
  it("unwinds when the worker cannot take the frame", () => {
    g1.grant(12, 2, 1);
    host.mapStatus = GNTST_bad_virt_addr;
    expect(map(12).status).toBe(GNTST_bad_virt_addr);
    expect(g1.flags(12)).toBe(GTF_permit_access);
    expect(gt.mappingCount(2)).toBe(0);
  });
  it("device_map reports a bus address; unmap checks the addresses and the handle", () => {
    g1.grant(13, 2, 2);
    const r = map(13, RW | GNTMAP_device_map);
    const mfn = host.frameOf(1, 2)!.mfn;
    expect(r.devBusAddr).toBe(BigInt(mfn) << 12n);
    expect(gt.unmapGrantRef(2, 0x20000n, 0n, r.handle)).toBe(GNTST_bad_virt_addr);
    expect(gt.unmapGrantRef(2, 0n, 0x1000n, r.handle)).toBe(GNTST_bad_dev_addr);
    expect(gt.unmapGrantRef(1, 0n, 0n, r.handle)).toBe(GNTST_bad_handle); // not dom1's handle
    expect(gt.unmapGrantRef(2, 0n, BigInt(mfn) << 12n, r.handle)).toBe(GNTST_okay);
    expect(gt.unmapGrantRef(2, 0n, 0n, r.handle)).toBe(GNTST_bad_handle);
  });
  it("counts pins per ref: two maps, unmapped in either order (XSA-224)", () => {
    g1.grant(3, 2, 0);
    for (const order of [
      [0, 1],
      [1, 0],
    ]) {
      const hs = [map(3).handle, map(3).handle];
      expect(hs[0]).not.toBe(hs[1]);
      gt.unmapGrantRef(2, 0n, 0n, hs[order[0]]);
      expect(g1.flags(3) & (GTF_reading | GTF_writing)).toBe(GTF_reading | GTF_writing);
      gt.unmapGrantRef(2, 0n, 0n, hs[order[1]]);
      expect(g1.flags(3)).toBe(GTF_permit_access);
    }
  });
  it("writing goes with the last writable map, reading with the last map", () => {
    g1.grant(4, 2, 0);
    const ro = map(4, RO).handle;
    const rw = map(4, RW).handle;
    expect(g1.flags(4)).toBe(GTF_permit_access | GTF_reading | GTF_writing);
    gt.unmapGrantRef(2, 0n, 0n, rw);
    expect(g1.flags(4)).toBe(GTF_permit_access | GTF_reading);
    gt.unmapGrantRef(2, 0n, 0n, ro);
    expect(g1.flags(4)).toBe(GTF_permit_access);
  });
  it("runs out of handles with GNTST_no_space", () => {
    gt = new GrantTables(host, { maxMappings: 2 });
    gt.setupTable(1, false, DOMID_SELF, 1);
    g1 = new GuestGrants(host.tableFrames.get(1)!);
    g1.grant(1, 2, 0);
    expect(map(1).status).toBe(GNTST_okay);
    expect(map(1).status).toBe(GNTST_okay);
    expect(map(1).status).toBe(GNTST_no_space);
  });
});

describe("versions, seeding, destroy", () => {
  it("v1 only", () => {
    expect(gt.setVersion(1)).toBe(0);
    expect(gt.setVersion(2)).toBe(-ENOSYS);
    expect(gt.setVersion(3)).toBe(-EINVAL);
    expect(gt.getVersion(1, false, DOMID_SELF)).toBe(1);
    expect(gt.getVersion(1, false, 2)).toBe(-EPERM);
    expect(gt.getVersion(0, true, 2)).toBe(1);
    expect(gt.getVersion(0, true, 9)).toBe(-ESRCH);
  });
  it("seedGrant writes the reserved console/xenstore entries dom0 then maps", () => {
    expect(gt.seedGrant(2, 0, 0, 1, false)).toBe(0);
    expect(gt.seedGrant(2, 1, 0, 2, false)).toBe(0);
    expect(gt.seedGrant(9, 0, 0, 1, false)).toBe(-ESRCH);
    expect(gt.seedGrant(2, 4 * 512, 0, 1, false)).toBe(-EINVAL);
    const r = gt.mapGrantRef(0, { hostAddr: 0n, flags: RW, ref: 1, dom: 2 });
    expect(r.status).toBe(GNTST_okay);
    expect(host.mapped.get(0)!.get(r.handle)!.frame).toBe(host.frameOf(2, 2));
    // The guest's later setup_table sees the same, already seeded, frame.
    const mfns = gt.setupTable(2, false, DOMID_SELF, 1).mfns;
    expect(new GuestGrants(host.tableFrames.get(2)!).flags(1)).toBe(
      GTF_permit_access | GTF_reading | GTF_writing,
    );
    expect(mfns).toHaveLength(1);
  });
  it("destroying a mapper clears its pins in the granter", () => {
    g1.grant(2, 2, 0);
    map(2);
    map(2, RO);
    gt.destroyDomain(2);
    expect(g1.flags(2)).toBe(GTF_permit_access);
    expect(gt.mappingCount(2)).toBe(0);
  });
  it("destroying a granter revokes others' mappings and frees its table", () => {
    g1.grant(2, 2, 0);
    const h = map(2).handle;
    const tableMfns = host.tableFrames.get(1)!.map((f) => f.mfn);
    gt.destroyDomain(1);
    host.removeDomain(1);
    expect(host.unmaps.map(([d, m]) => [d, m.handle])).toEqual([[2, h]]);
    expect(host.mapped.get(2)!.size).toBe(0);
    expect(gt.unmapGrantRef(2, 0n, 0n, h)).toBe(GNTST_bad_handle);
    expect(host.freed.map((f) => f.mfn)).toEqual(tableMfns);
    expect(map(2).status).toBe(GNTST_bad_domain);
  });
});
