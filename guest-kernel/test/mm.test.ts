import { describe, expect, it } from "vitest";
import { OutOfMemory, PageAllocator } from "../src/kernel/mm.ts";
import { Balloon } from "../src/kernel/balloon.ts";
import { GrantTable, GNTTAB_NR_RESERVED_ENTRIES } from "../src/kernel/gnttab.ts";
import { GTF_permit_access, GTF_readonly, GTF_reading, GTF_writing } from "../src/kernel/xen.ts";
import { FakeXen } from "./helpers/fake-xen.ts";

describe("page allocator", () => {
  it("hands out boot frames, skipping reserved ones, lowest first", () => {
    const mm = new PageAllocator(4, 4, [0, 2], new FakeXen());
    expect([mm.alloc(), mm.alloc()]).toEqual([1, 3]);
    expect(() => mm.alloc()).toThrow(OutOfMemory);
    mm.free(3);
    expect(mm.alloc()).toBe(3);
    expect(() => mm.free(99)).toThrow(/not allocated/);
  });

  it("hands out a stretch of consecutive boot frames, never across a reserved one", () => {
    const mm = new PageAllocator(32, 32, [0, 14], new FakeXen());
    expect(mm.alloc()).toBe(1);
    expect(mm.allocRange(8)).toBe(2); // 2..9
    expect(mm.allocRange(8)).toBeUndefined(); // 10..17 would cross reserved 14
    expect(mm.allocRange(40)).toBeUndefined(); // more than is left
    expect(mm.alloc()).toBe(10); // a refusal takes nothing
    expect(mm.allocRange(3)).toBe(11); // 11..13
    expect(mm.alloc()).toBe(15); // past the reserved one
    mm.free(5); // each page of a stretch is freed on its own
    expect(mm.alloc()).toBe(5);
    expect(mm.stats()).toMatchObject({ used: 2 + 1 + 8 + 1 + 3 + 1 });
  });

  it("populates on demand up to the quota and stops where the hypervisor does", () => {
    const xen = new FakeXen();
    xen.headroom = 5;
    const mm = new PageAllocator(1, 100, [0], xen);
    const got: number[] = [];
    try {
      for (let i = 0; i < 50; i++) got.push(mm.alloc());
    } catch (e) {
      expect(e).toBeInstanceOf(OutOfMemory);
    }
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(xen.populated).toEqual([1, 2, 3, 4, 5]);
    expect(mm.stats()).toMatchObject({ total: 6, free: 0, used: 6 });
  });

  it("balloons down by releasing free frames only, and back up reusing holes", () => {
    const xen = new FakeXen();
    const mm = new PageAllocator(16, 16, [0], xen);
    const b = new Balloon(mm);
    const held = Array.from({ length: 10 }, () => mm.alloc());
    expect(b.setTarget(4)).toEqual({ targetPages: 4, currentPages: 11 });
    expect(xen.released).toHaveLength(5);
    for (const p of held) mm.free(p);
    expect(b.setTarget(4).currentPages).toBe(4);
    expect(b.setTarget(8).currentPages).toBe(8);
    expect(new Set(xen.populated).size).toBe(4);
    for (const p of xen.populated) expect(p).toBeLessThan(16);
  });
});

describe("grant table", () => {
  it("writes v1 entries and refuses end-access while the peer has it mapped", () => {
    const frame = new DataView(new SharedArrayBuffer(4096));
    const gt = new GrantTable([frame]);
    const ref = gt.grantAccess(3, 0x1234, true);
    expect(ref).toBeGreaterThanOrEqual(GNTTAB_NR_RESERVED_ENTRIES);
    expect(frame.getUint16(ref * 8 + 2, true)).toBe(3);
    expect(frame.getUint32(ref * 8 + 4, true)).toBe(0x1234);
    expect(gt.entryFlags(ref)).toBe(GTF_permit_access | GTF_readonly);
    // The hypervisor maps it: GTF_reading goes up.
    frame.setUint16(ref * 8, gt.entryFlags(ref) | GTF_reading, true);
    expect(gt.endAccess(ref)).toBe(false);
    frame.setUint16(ref * 8, GTF_permit_access | GTF_writing, true);
    expect(gt.endAccess(ref)).toBe(false);
    frame.setUint16(ref * 8, GTF_permit_access, true);
    expect(gt.endAccess(ref)).toBe(true);
    expect(gt.entryFlags(ref)).toBe(0);
    expect(() => gt.endAccess(ref)).toThrow(/not active/);
    expect(() => gt.grantAccess(0x7ff0, 1, false)).toThrow(/domid/);
  });

  it("runs out after the non-reserved refs of its frames", () => {
    const gt = new GrantTable([new DataView(new SharedArrayBuffer(4096))]);
    for (let i = 0; i < 512 - 8; i++) gt.grantAccess(1, i, false);
    expect(() => gt.grantAccess(1, 0, false)).toThrow(/full/);
    expect(gt.inUse).toBe(504);
  });
});
