// Property: over random sequences of map / unmap / end-access / re-grant on a few refs, GTF_reading
// is set exactly while some mapping of the ref remains, GTF_writing exactly while a writable one
// does, and the guest's end-access succeeds exactly when no mapping remains (XSA-224/230's lesson).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DOMID_SELF,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_okay,
  GTF_reading,
  GTF_writing,
} from "../src/gnttab/consts.ts";
import { FakeGnttabHost } from "../src/gnttab/fake_host.ts";
import { GrantTables } from "../src/gnttab/gnttab.ts";
import { GuestGrants } from "./gnttab-guest.ts";

const REFS = 3;

type Action =
  | { kind: "map"; ref: number; ro: boolean }
  | { kind: "unmap"; pick: number }
  | { kind: "end"; ref: number }
  | { kind: "grant"; ref: number; ro: boolean };

const ref = fc.integer({ min: 0, max: REFS - 1 });
const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant("map" as const), ref, ro: fc.boolean() }),
  fc.record({ kind: fc.constant("unmap" as const), pick: fc.nat(50) }),
  fc.record({ kind: fc.constant("end" as const), ref }),
  fc.record({ kind: fc.constant("grant" as const), ref, ro: fc.boolean() }),
);

describe("grant pin reference counts", () => {
  it("keep GTF_reading/GTF_writing set exactly while a mapping remains", () => {
    fc.assert(
      fc.property(fc.array(action, { maxLength: 60 }), (actions) => {
        const host = new FakeGnttabHost();
        host.addDomain(1);
        host.addDomain(2);
        const gt = new GrantTables(host);
        gt.setupTable(1, false, DOMID_SELF, 1);
        const guest = new GuestGrants(host.tableFrames.get(1)!);
        // The model: what each ref grants (null = not granted) and the live mappings.
        const granted: ({ ro: boolean } | null)[] = Array.from({ length: REFS }, (_, r) => ({ ro: r === 2 }));
        granted.forEach((g, r) => guest.grant(r, 2, r, g!.ro));
        const live: { handle: number; ref: number; ro: boolean }[] = [];

        for (const a of actions) {
          if (a.kind === "map") {
            const flags = GNTMAP_host_map | (a.ro ? GNTMAP_readonly : 0);
            const r = gt.mapGrantRef(2, { hostAddr: 0n, flags, ref: a.ref, dom: 1 });
            const g = granted[a.ref];
            const allowed = g !== null && (a.ro || !g.ro);
            expect(r.status === GNTST_okay).toBe(allowed);
            if (allowed) live.push({ handle: r.handle, ref: a.ref, ro: a.ro });
          } else if (a.kind === "unmap") {
            if (live.length === 0) continue;
            const [m] = live.splice(a.pick % live.length, 1);
            expect(gt.unmapGrantRef(2, 0n, 0n, m.handle)).toBe(GNTST_okay);
          } else if (a.kind === "end") {
            const inUse = live.some((m) => m.ref === a.ref);
            expect(guest.endAccess(a.ref)).toBe(!inUse);
            if (!inUse) granted[a.ref] = null;
          } else if (granted[a.ref] === null) {
            guest.grant(a.ref, 2, a.ref, a.ro);
            granted[a.ref] = { ro: a.ro };
          }
          for (let r = 0; r < REFS; r++) {
            const f = guest.flags(r);
            expect((f & GTF_reading) !== 0).toBe(live.some((m) => m.ref === r));
            expect((f & GTF_writing) !== 0).toBe(live.some((m) => m.ref === r && !m.ro));
          }
        }
        expect(gt.mappingCount(2)).toBe(live.length);
      }),
      { numRuns: 300 },
    );
  });
});
