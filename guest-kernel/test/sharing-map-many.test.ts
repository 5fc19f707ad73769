/**
 * k.grants.mapMany (kernel/sharing.ts): many refs mapped in batches of MAP_BATCH (one hypercall
 * each), each result a mapping or the GrantError of its own status; a batch that fails as a whole
 * leaves nothing mapped and no window slot taken, the batches before it included.
 */
import { describe, expect, it } from "vitest";
import { programGrants, type SharingDeps } from "../src/kernel/sharing.ts";
import { GrantError, MAP_BATCH } from "../src/kernel/hypervisor.ts";
import { FakeXen } from "./helpers/fake-xen.ts";

function setup() {
  const xen = new FakeXen();
  for (let ref = 0; ref < 200; ref++) xen.peerGrants.set(`7:${ref}`, { readonly: false });
  const slots = new Set<bigint>();
  let next = 1n << 40n;
  const foreign = {
    reserve: () => {
      const a = (next += 4096n);
      slots.add(a);
      return a;
    },
    view: () => new DataView(new ArrayBuffer(4096)),
    release: (a: bigint) => void slots.delete(a),
  };
  const grants = programGrants({ xen, foreign } as unknown as SharingDeps);
  return { xen, slots, grants };
}

describe("grants.mapMany", () => {
  it("maps in batches, one call each, and says which refs did not map", () => {
    const { xen, grants } = setup();
    let calls = 0;
    const batch = xen.gnttabMapBatch.bind(xen);
    xen.gnttabMapBatch = (ops) => (calls++, batch(ops));
    const refs = [...Array.from({ length: MAP_BATCH + 10 }, (_, i) => i), 999];
    const got = grants.mapMany(7, refs);
    expect(calls).toBe(2);
    expect(got).toHaveLength(refs.length);
    expect(got.slice(0, -1).map((m) => (m instanceof GrantError ? m : m.ref))).toEqual(refs.slice(0, -1));
    expect(got.at(-1)).toBeInstanceOf(GrantError);
    expect((got.at(-1) as GrantError).statusName).toBe("GNTST_bad_gntref");
  });

  it("leaves nothing mapped when a later batch fails as a whole", () => {
    const { xen, slots, grants } = setup();
    let calls = 0;
    const batch = xen.gnttabMapBatch.bind(xen);
    xen.gnttabMapBatch = (ops) => {
      if (++calls === 2) throw new RangeError("scratch page fault");
      return batch(ops);
    };
    expect(() =>
      grants.mapMany(
        7,
        Array.from({ length: MAP_BATCH + 1 }, (_, i) => i),
      ),
    ).toThrow(/scratch/);
    const maps = xen.grantOps.filter((o) => o.startsWith("map")).length;
    const unmaps = xen.grantOps.filter((o) => o.startsWith("unmap")).length;
    expect([maps, unmaps]).toEqual([MAP_BATCH, MAP_BATCH]);
    expect(slots.size).toBe(0);
  });
});
