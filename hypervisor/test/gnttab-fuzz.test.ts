// Bad input never crashes anything: random grant operations with arbitrary integers (and guest
// entries with random flag words) return GNTST_* statuses or Xen errnos, never throw, and leave no
// status bit set on an entry nobody has mapped.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DOMID_SELF, GTF_reading, GTF_writing } from "../src/gnttab/consts.ts";
import { FakeGnttabHost } from "../src/gnttab/fake_host.ts";
import { GrantTables } from "../src/gnttab/gnttab.ts";
import { GuestGrants } from "./gnttab-guest.ts";

const anyInt = fc.oneof(
  fc.integer({ min: -2, max: 8 }),
  fc.constantFrom(0x7ff0, 511, 512, 4095, 4096, 2 ** 16 - 1, 2 ** 32 - 1, -1, 1.5, Number.NaN),
);
const op = fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 2 }), anyInt, anyInt, anyInt);

describe("grant tables under random input", () => {
  it("answer with a status or errno, never throw, and leak no pin", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const host = new FakeGnttabHost();
        for (const d of [0, 1, 2]) host.addDomain(d);
        const gt = new GrantTables(host, { maxFrames: 2, maxMappings: 8 });
        gt.setupTable(1, false, DOMID_SELF, 1);
        const guest = new GuestGrants(host.tableFrames.get(1)!);
        const handles: number[] = [];
        for (const [kind, caller, a, b, c] of ops) {
          let r: number;
          switch (kind) {
            case 0: {
              const m = gt.mapGrantRef(caller, { hostAddr: BigInt(a | 0), flags: b | 0, ref: a, dom: c });
              if (m.status === 0) handles.push(m.handle);
              r = m.status;
              break;
            }
            case 1:
              r = gt.unmapGrantRef(caller, 0n, 0n, a);
              break;
            case 2: {
              const p = (x: number) => ({ ref: x, gmfn: BigInt(x | 0), domid: c, offset: b });
              r = gt.copy(caller, { source: p(a), dest: p(b), len: c, flags: a & 3 });
              break;
            }
            case 3:
              r = gt.setupTable(caller, caller === 0, a, b).status;
              break;
            case 4:
              r = gt.seedGrant(caller, a, b, c, (a & 1) === 1);
              break;
            case 5: // the guest writes a random word into one of its first entries
              if (Number.isInteger(a) && a >= 0 && a < 8)
                guest.rawWord(a, (b | 0) & ~(GTF_reading | GTF_writing));
              r = 0;
              break;
            default:
              r = gt.querySize(caller, caller === 0, a).status;
          }
          expect(Number.isInteger(r)).toBe(true);
          expect(r).toBeGreaterThanOrEqual(-38);
          expect(r).toBeLessThanOrEqual(0);
        }
        // Unmap everything: no entry of dom1 may keep a status bit.
        for (const d of [0, 1, 2]) for (let h = 0; h < 8; h++) gt.unmapGrantRef(d, 0n, 0n, h);
        for (let ref = 0; ref < 512; ref++) expect(guest.flags(ref) & (GTF_reading | GTF_writing)).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
