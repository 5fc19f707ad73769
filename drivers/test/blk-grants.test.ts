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
  const grants = new PersistentGrants((ref) => {
    if (ref < 0) throw new Error("GNTST_bad_gntref");
    maps.push(ref);
    return { bytes: new Uint8Array(4096).fill(ref & 0xff), unmap: () => void unmaps.push(ref) };
  }, limit);
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

  it("maps a request's new pages in one batch, and leaves refs that do not map to acquire()", () => {
    const batches: number[][] = [];
    const singles: number[] = [];
    const page = (ref: number) => ({ bytes: new Uint8Array(4096).fill(ref), unmap: () => {} });
    const grants = new PersistentGrants(
      (ref) => {
        singles.push(ref);
        if (ref >= 100) throw new Error("GNTST_bad_gntref");
        return page(ref);
      },
      8,
      (refs) => (batches.push([...refs]), refs.map((r) => (r >= 100 ? undefined : page(r)))),
    );
    grants.acquire(1);
    singles.length = 0;
    grants.prefetch([1, 2, 3, 2, 100]);
    expect(batches).toEqual([[2, 3, 100]]); // only what was not mapped, once each
    expect(grants.acquire(2)?.[0]).toBe(2);
    expect(grants.acquire(3)?.[0]).toBe(3);
    expect(grants.acquire(100)).toBeUndefined(); // tried once more, alone, and refused
    expect(singles).toEqual([100]);
    grants.prefetch([1, 2, 3]);
    expect(batches).toHaveLength(1); // all mapped: no hypercall
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
