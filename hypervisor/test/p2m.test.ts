// Property: the P2M (domain/p2m.ts) — an array below the largest max_pages the domain has had, a Map
// above — behaves as one Map of pfn → frame for every pfn a guest may name (negative, fractional,
// past max_pages, past 2^32, NaN), whatever the order of quota changes (a toolstack's domain is made
// with max_pages 0 and given its quota after), and iterates the array's pfns in order before the
// others in the order they came.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Frame } from "../src/gnttab/host.ts";
import { P2m } from "../src/domain/p2m.ts";

const DENSE = 64;
const pfn = fc.oneof(
  fc.integer({ min: 0, max: DENSE + 8 }),
  fc.constantFrom(-1, 1.5, NaN, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER, DENSE - 1, DENSE),
);
type Op =
  | { kind: "set"; pfn: number; mfn: number }
  | { kind: "delete"; pfn: number }
  | { kind: "clear" }
  | { kind: "cover"; pages: number };
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("set" as const), pfn, mfn: fc.nat(1000) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("delete" as const), pfn }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("clear" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("cover" as const), pages: fc.integer({ min: -1, max: DENSE }) }),
  },
);

const frame = (mfn: number) => ({ mfn }) as unknown as Frame;

describe("the P2M", () => {
  it("agrees with a Map of pfn → frame, and iterates low pfns in order first", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120, size: "max" }), (ops) => {
        const p2m = new P2m();
        const model = new Map<number, Frame>();
        let dense = 0;
        for (const o of ops) {
          if (o.kind === "set") {
            const f = frame(o.mfn);
            p2m.set(o.pfn, f);
            model.set(o.pfn, f);
          } else if (o.kind === "delete") expect(p2m.delete(o.pfn)).toBe(model.delete(o.pfn));
          else if (o.kind === "cover") {
            p2m.cover(o.pages);
            dense = Math.max(dense, o.pages);
          } else {
            p2m.clear();
            model.clear();
          }
          expect(p2m.size).toBe(model.size);
          for (const [k, f] of model) {
            expect(p2m.get(k)).toBe(f);
            expect(p2m.has(k)).toBe(true);
          }
          expect(p2m.has(DENSE + 100) || model.has(DENSE + 100)).toBe(model.has(DENSE + 100));
        }
        // The Map's pfns come in the order they were set, except that those a cover() moved into
        // the array come in pfn order: compare the high part as a set of entries, the low in order.
        const isLow = (k: number) => Number.isInteger(k) && k >= 0 && k < dense;
        const low = [...model].filter(([k]) => isLow(k)).sort(([a], [b]) => a - b);
        const high = [...model].filter(([k]) => !isLow(k));
        const got = [...p2m];
        expect(got.slice(0, low.length)).toEqual(low);
        expect(new Map(got.slice(low.length))).toEqual(new Map(high));
        const expected = got;
        expect([...p2m]).toEqual(expected);
        const seen: [number, Frame][] = [];
        p2m.forEach((f, k) => seen.push([k, f]));
        expect(seen).toEqual(expected);
        expect([...p2m.values()]).toEqual(expected.map(([, f]) => f));
      }),
      { numRuns: 300 },
    );
  });
});
