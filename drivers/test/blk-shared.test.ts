/**
 * blkfront's shared buffers (drivers/src/blk/front-shared.ts): runs of the guest's pages granted to
 * the backend once. A buffer names its own pages (refsOf) only from a page boundary inside it;
 * released buffers are reused, joined with released neighbours, zeroed, and never granted twice;
 * the limit counts every page ever granted.
 */
import { describe, expect, it } from "vitest";
import { SharedBuffers } from "../src/blk/front-shared.ts";
import type { PoolPlatform } from "../src/blk/front-pool.ts";

function platform() {
  const grants: number[] = [];
  let nextPfn = 10;
  const memory = new SharedArrayBuffer(64 * 4096); // pfn 10 is its first page
  const p: PoolPlatform = {
    allocPage: () => {
      throw new Error("not used");
    },
    allocRun: (n) => {
      const pfns = Array.from({ length: n }, (_, i) => nextPfn + i);
      nextPfn += n;
      return { pfns, bytes: new Uint8Array(memory, (pfns[0]! - 10) * 4096, n * 4096) };
    },
    freePage: () => {},
    grant: (_d, pfn) => (grants.push(pfn), 1000 + pfn),
    endGrant: () => true,
  };
  return { p, grants };
}

describe("shared buffers (blkfront)", () => {
  it("names a buffer's own pages from any page boundary inside it, and nothing else", () => {
    const { p } = platform();
    const sb = new SharedBuffers(p, 0, 64);
    const b = sb.make(3 * 4096)!;
    expect(sb.refsOf(b)).toEqual([1010, 1011, 1012]);
    expect(sb.refsOf(b.subarray(4096, 4096 + 512))).toEqual([1011]);
    expect(sb.refsOf(b.subarray(512))).toBeUndefined(); // not on a page boundary
    const next = sb.make(4096)!; // the page right after b, in the same memory
    expect(sb.refsOf(next)).toEqual([1013]);
    expect(sb.refsOf(new Uint8Array(b.buffer, 2 * 4096, 2 * 4096))).toBeUndefined(); // across both
    expect(sb.refsOf(new Uint8Array(4096))).toBeUndefined();
  });

  it("reuses released pages, joined with released neighbours, zeroed, without granting again", () => {
    const { p, grants } = platform();
    const sb = new SharedBuffers(p, 0, 64);
    const whole = sb.make(3 * 4096)!;
    expect(sb.release(whole)).toBe(true);
    const [a, b, c] = [sb.make(4096)!, sb.make(4096)!, sb.make(4096)!];
    expect([a, b, c].map((x) => x.byteOffset)).toEqual([0, 4096, 8192]);
    c.fill(7);
    sb.release(a);
    sb.release(c);
    sb.release(b); // joins both sides
    const again = sb.make(3 * 4096)!;
    expect(again.byteOffset).toBe(0);
    expect(again.every((x) => x === 0)).toBe(true);
    expect(sb.refsOf(again)).toEqual([1010, 1011, 1012]);
    expect(grants).toEqual([10, 11, 12]);
    expect(sb.release(again.subarray(4096))).toBe(false); // only what make() returned
  });

  it("stops at the limit, released pages counted", () => {
    const { p } = platform();
    const sb = new SharedBuffers(p, 0, 4);
    const x = sb.make(3 * 4096)!;
    expect(sb.make(2 * 4096)).toBeUndefined();
    sb.release(x);
    expect(sb.make(2 * 4096)).toBeDefined(); // from the released three
    expect(sb.make(2 * 4096)).toBeUndefined(); // one released left, one page of room
    expect(sb.make(4096)).toBeDefined();
    expect(sb.pages).toBe(3);
  });
});
