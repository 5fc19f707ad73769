/**
 * PhysMemory.span (arch/memory.ts): one view over consecutive pages, only where they lie in one run
 * of the domain's memory — what blkfront's shared buffers are cut from. A stretch across two runs,
 * or over a page given back, has no single view.
 */
import { describe, expect, it } from "vitest";
import { PAGE_SIZE, PhysMemory } from "../src/arch/memory.ts";

const run = (pfn: number, pages: number) => ({ pfn, buf: new SharedArrayBuffer(pages * PAGE_SIZE) });

describe("spans of the domain's memory", () => {
  it("is one live view over pages of one run", () => {
    const a = run(0, 4);
    const mem = new PhysMemory([a, run(4, 4)]);
    const s = mem.span(1, 3)!;
    expect(s.buffer).toBe(a.buf);
    expect([s.byteOffset, s.length]).toEqual([PAGE_SIZE, 3 * PAGE_SIZE]);
    s[PAGE_SIZE] = 7; // page 2's first byte
    expect(new Uint8Array(mem.page(2).buffer, mem.page(2).byteOffset, 1)[0]).toBe(7);
  });

  it("has none across two runs, past the memory, or over a page given back", () => {
    const mem = new PhysMemory([run(0, 4), run(4, 4)]);
    expect(mem.span(2, 4)).toBeUndefined(); // pfns 2..5: two runs
    expect(mem.span(6, 4)).toBeUndefined(); // past the end
    expect(mem.span(4, 4)).toBeDefined();
    mem.deliver([{ t: "drop", pfns: [5] }]);
    expect(mem.span(4, 4)).toBeUndefined();
    expect(mem.span(6, 2)).toBeDefined();
  });
});
