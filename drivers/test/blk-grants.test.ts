/**
 * blkback's table of persistent grants (drivers/src/blk/back-grants.ts): each ref is mapped once and
 * kept; at the limit the least recently acquired page that no request holds is unmapped, and a page
 * in use is never unmapped, even past the limit.
 */
import { describe, expect, it } from "vitest";
import { PersistentGrants } from "../src/blk/back-grants.ts";

function table(limit: number) {
  const maps: number[] = [];
  const unmaps: number[] = [];
  const grants = new PersistentGrants(
    (ref) => {
      if (ref < 0) throw new Error("GNTST_bad_gntref");
      maps.push(ref);
      return { bytes: new Uint8Array(4096).fill(ref & 0xff), unmap: () => void unmaps.push(ref) };
    },
    { limit },
  );
  const use = (...refs: number[]) => refs.forEach((r) => (grants.acquire(r), grants.release(r)));
  return { grants, maps, unmaps, use };
}

describe("persistent grants (blkback)", () => {
  it("maps a ref once, however often it is used", () => {
    const t = table(8);
    t.use(1, 2, 1, 1, 2);
    expect(t.maps).toEqual([1, 2]);
    expect(t.grants.acquire(1)?.[0]).toBe(1);
  });

  it("unmaps the least recently used page at the limit", () => {
    const t = table(3);
    t.use(1, 2, 3);
    t.use(1); // 2 is now the oldest
    t.use(4);
    expect(t.unmaps).toEqual([2]);
    t.use(5); // then 3
    expect(t.unmaps).toEqual([2, 3]);
    expect(t.grants.size).toBe(3);
  });

  it("never unmaps a page a request holds, and goes past the limit instead", () => {
    const t = table(2);
    t.grants.acquire(1);
    t.grants.acquire(2);
    expect(t.grants.acquire(3)).toBeDefined();
    expect(t.unmaps).toEqual([]);
    t.grants.release(1);
    t.use(4); // 1 is free now, and the oldest
    expect(t.unmaps).toEqual([1]);
  });

  it("maps a request's new pages in one batch, and refuses it, holding nothing, if one does not map", () => {
    const batches: number[][] = [];
    const singles: number[] = [];
    const page = (ref: number) => ({ bytes: new Uint8Array(4096).fill(ref), unmap: () => {} });
    const grants = new PersistentGrants((ref) => (singles.push(ref), page(ref)), {
      limit: 8,
      mapBatch: (refs) => (batches.push([...refs]), refs.map((r) => (r >= 100 ? undefined : page(r)))),
    });
    grants.acquire(1);
    grants.release(1);
    const got = grants.acquireAll([1, 2, 3, 2])!;
    expect(got.map((b) => b[0])).toEqual([1, 2, 3, 2]);
    expect(batches).toEqual([[2, 3]]); // only what was not mapped, once each
    for (const r of [1, 2, 3, 2]) grants.release(r);
    expect(grants.acquireAll([1, 2, 3])).toBeDefined();
    expect(batches).toHaveLength(1); // all mapped: no hypercall
    for (const r of [1, 2, 3]) grants.release(r);

    expect(grants.acquireAll([4, 100, 1])).toBeUndefined(); // 100 is no grant
    expect(batches[1]).toEqual([4, 100]);
    expect(singles).toEqual([1]); // 100 is not tried again alone
    // Nothing stays held: at the limit, every page can be unmapped again.
    grants.acquireAll([10, 11, 12, 13, 14, 15, 16, 17])!.forEach((_, i) => grants.release(10 + i));
    expect(grants.size).toBeLessThanOrEqual(8);
  });

  it("never unmaps a page of the request it maps for, and evicts in chunks", () => {
    const unmaps: number[] = [];
    const page = (ref: number) => ({ bytes: new Uint8Array(8), unmap: () => void unmaps.push(ref) });
    const grants = new PersistentGrants(page, { limit: 16, mapBatch: (refs) => refs.map(page) });
    const fill = Array.from({ length: 16 }, (_, i) => i);
    grants.acquireAll(fill)!.forEach((_, i) => grants.release(i));
    expect(unmaps).toEqual([]);
    // 0..7 again (now the most recent) beside 8 new: the oldest idle ones, 8..15, make room.
    const req = [0, 1, 2, 3, 4, 5, 6, 7, 100, 101, 102, 103, 104, 105, 106, 107];
    const held = grants.acquireAll(req)!;
    expect(held).toHaveLength(16);
    expect(unmaps.every((r) => r >= 8 && r < 16)).toBe(true);
    expect(unmaps.length).toBe(8); // everything else is held by the request
    for (const r of req) grants.release(r);
    // Past the limit with everything idle: an eighth of the table more than needed goes at once.
    unmaps.length = 0;
    grants.acquireAll([200])!.forEach(() => grants.release(200));
    expect(unmaps.length).toBeGreaterThanOrEqual(1 + 2);
    const after = unmaps.length;
    grants.acquireAll([201])!.forEach(() => grants.release(201));
    expect(unmaps.length).toBe(after); // the room made before is used first
  });

  it("answers undefined for a ref that does not map, and clear() unmaps all", () => {
    const t = table(4);
    expect(t.grants.acquire(-1)).toBeUndefined();
    t.use(1, 2);
    t.grants.clear();
    expect(t.unmaps.sort()).toEqual([1, 2]);
    expect(t.grants.size).toBe(0);
  });
});
