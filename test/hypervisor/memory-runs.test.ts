/**
 * A domain's memory as runs (hypervisor/src/realm/memory-runs.ts): the runs a P2M makes, the free
 * frames handed out lowest first so a domain built after another died is still one run, the pin
 * that keeps a run's frames held by their domain whatever it drops, and a domain's worker — a
 * thread of this process, and in a cell — that really receives one buffer for its memory and
 * balloons out of the middle of it.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { VIRQ_DEBUG } from "@pvkit/abi/layout";
import type { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { memoryRuns } from "@pvkit/hypervisor/domain/worker";
import { FrameTable } from "@pvkit/hypervisor/memory/frames";
import { FreeFrames } from "@pvkit/hypervisor/memory/free-frames";
import { runsOf } from "@pvkit/hypervisor/realm/memory-runs";
import { boot, reports, shutdownOf } from "./helpers.ts";

const balloonGuest = new URL("../hostile/guests/balloon-runs.ts", import.meta.url).href;
let hv: Hypervisor | undefined;
afterEach(async () => {
  await hv?.close();
  hv = undefined;
});

describe("runsOf", () => {
  it("joins consecutive pfns on consecutive mfns, in pfn order, whatever order they come in", () => {
    const pages: [number, number][] = [
      [5, 105],
      [0, 100],
      [1, 101],
      [2, 103], // mfn gap: a new run
      [3, 104],
      [4, 200], // another mfn gap
      [9, 106], // pfn gap
    ];
    expect(runsOf(pages)).toEqual([
      { pfn: 0, mfn: 100, pages: 2 },
      { pfn: 2, mfn: 103, pages: 2 },
      { pfn: 4, mfn: 200, pages: 1 },
      { pfn: 5, mfn: 105, pages: 1 },
      { pfn: 9, mfn: 106, pages: 1 },
    ]);
    expect(runsOf([])).toEqual([]);
  });

  it("covers every page exactly once, each run consecutive on both sides", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(300), { selector: (p) => p }),
        fc.array(fc.nat(600)),
        (pfns, mfns) => {
          const pages = pfns.map((pfn, i) => [pfn, mfns[i] ?? pfn] as [number, number]);
          const seen = new Map<number, number>();
          for (const r of runsOf(pages)) for (let k = 0; k < r.pages; k++) seen.set(r.pfn + k, r.mfn + k);
          expect(seen).toEqual(new Map(pages));
        },
      ),
    );
  });
});

describe("the frame allocator", () => {
  it("hands out the lowest free frame first", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(10_000)), (mfns) => {
        const free = new FreeFrames();
        for (const m of mfns) free.push(m);
        const out: number[] = [];
        for (let m = free.pop(); m !== undefined; m = free.pop()) out.push(m);
        expect(out).toEqual([...mfns].sort((a, b) => a - b));
      }),
    );
  });

  it("gives a domain built after another died consecutive frames again (one run, not one a page)", () => {
    const t = new FrameTable(1024);
    const first = Array.from({ length: 300 }, () => t.alloc(1)!);
    for (const f of first) t.handedTo(f, 1, true);
    t.retireOwned(1);
    t.holderGone(1);
    const second = Array.from({ length: 300 }, () => t.alloc(2)!);
    expect(runsOf(second.map((f, pfn) => [pfn, f.mfn]))).toHaveLength(1);
  });

  it("keeps a frame pinned as a holder's memory held when that holder drops a mapping of it", () => {
    const t = new FrameTable(16);
    const f = t.alloc(1)!;
    t.handedTo(f, 1, true); // its own memory, in a run
    t.handedTo(f, 1); // and mapped again (a grant of its own page)
    t.dropHolder(f, 1); // a trusted holder unmaps: the run still reaches the frame
    expect(t.holds(f, 1)).toBe(true);
    t.retire(f); // given back: reused by its holder alone
    const others = Array.from({ length: 15 }, () => t.alloc(2));
    expect(others.map((o) => o?.mfn)).not.toContain(f.mfn);
    expect(t.reclaim(1)?.mfn).toBe(f.mfn);
    t.retire(f);
    t.holderGone(1); // only its death frees it
    expect(t.get(f.mfn)).toBeUndefined();
    expect(t.pinnedTo(f, 1)).toBe(false);
  });

  it("lets a trusted holder drop a mapped frame that is not its memory", () => {
    const t = new FrameTable(16);
    const f = t.alloc(1)!;
    t.handedTo(f, 1, true);
    t.handedTo(f, 2); // mapped by the privileged domain 2
    t.dropHolder(f, 2);
    expect(t.holds(f, 2)).toBe(false);
  });
});

/** The machine-memory mappings (file offsets) of process `pid`. */
function machineMappings(pid: number): string[] {
  return readFileSync(`/proc/${pid}/maps`, "utf8")
    .split("\n")
    .filter((l) => l.includes("pvkit-machine-memory"));
}

describe.each([
  ["a thread of the host", false],
  ["a cell", true],
])("a domain's worker in %s", (_where, cells) => {
  it("receives its memory as one buffer per run and balloons out of the middle of it", async () => {
    hv = boot({ cells, pool: 0 });
    const d = hv.createDomain({
      name: "runs",
      memoryMiB: 8,
      kernel: balloonGuest,
      rings: false,
      cmdline: "first=100 count=1000",
    });
    // Built on free memory: one run for all 2048 pages.
    expect(memoryRuns(d)).toEqual([{ pfn: 0, mfn: d.p2m.get(0)!.mfn, pages: 2048 }]);
    while (!reports(hv, d.domid).some((r) => r.phase === "waiting"))
      await new Promise((r) => setTimeout(r, 10));
    const seen = Object.assign({}, ...reports(hv, d.domid)) as Record<string, unknown>;
    expect(seen).toMatchObject({ runPages: 2048, pageBytes: 4096, offsetPages: 100, ballooned: 1000 });
    // In a cell: one mapping for the whole run, plus shared_info, the vCPU page and the doorbell
    // (the OS may merge neighbours), not one a page.
    if (cells) expect(machineMappings(d.worker!.pid as number).length).toBeLessThanOrEqual(4);
    hv.evtchn.sendVirq(d.domid, VIRQ_DEBUG);
    expect((await shutdownOf(hv, d.domid)).reason).toBe(0);
    expect(reports(hv, d.domid).find((r) => r.phase === "scanned")).toMatchObject({
      found: 0,
      marked: 1000,
      regrew: 1000,
      scrubbed: 1000,
    });
  }, 60_000);
});
