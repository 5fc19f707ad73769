/**
 * Memory in runs: a domain's memory reaches its worker as one buffer per run of consecutive frames,
 * so a page it gives back stays reachable through its run's buffer. The rule (memory/frames.ts):
 * every frame of a run stays held by the domain until its worker dies — a given-back page is reused
 * for that domain alone, scrubbed — and only then goes back to the machine, scrubbed.
 *
 * The attack: a guest balloons out 1 MiB from the middle of its memory, keeps the run buffer, and
 * reads it after a victim with a secret booted (and was handed memory) — nothing of the victim's,
 * its own marks untouched; the victim got none of those frames; once the guest is gone they return
 * to the machine zeroed.
 */
import { VIRQ_DEBUG } from "@pvkit/abi/layout";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthy, hostileGuest, reports, shutdownOf, stage, until, type Stage } from "./harness.ts";

let s: Stage;
beforeAll(async () => void (s = await stage()), 60_000);
afterAll(() => s?.close());

const FIRST = 64;
const COUNT = 256;
const phase = (domid: number, p: string) => reports(s.hv, domid).find((r) => r.phase === p)!;
const reported = (domid: number, p: string) =>
  until(() => reports(s.hv, domid).some((r) => r.phase === p), `domain ${domid} to report ${p}`);

describe("pages given back out of a run", () => {
  it("stay the guest's alone until it dies: a victim's memory never shows through the run", async () => {
    const a = s.hv.createDomain({
      name: "balloon-runs",
      memoryMiB: 4,
      kernel: hostileGuest("balloon-runs"),
      rings: false,
      cmdline: `first=${FIRST} count=${COUNT}`,
    });
    const ballooned = [...Array(COUNT).keys()].map((i) => a.p2m.get(FIRST + i)!);
    await reported(a.domid, "waiting");
    // Its memory came as a run that spans the pages it gave back; the kernel's page is 4 KiB of it.
    const run = phase(a.domid, "run") as { runPages: number; pageBytes: number; offsetPages: number };
    expect(run.pageBytes).toBe(4096);
    expect(run.runPages).toBeGreaterThanOrEqual(run.offsetPages + COUNT);
    expect(phase(a.domid, "ballooned")).toMatchObject({ ballooned: COUNT, refused: true });
    // Given back, yet held (through the run) and pinned to it: out of everyone else's reach.
    for (const f of ballooned) {
      expect(s.hv.frames.holds(f, a.uid)).toBe(true);
      expect(s.hv.frames.pinnedTo(f, a.uid)).toBe(true);
    }

    // A victim with a secret, 8 MiB: the hypervisor hands out 2048 frames while the run is kept.
    const secret = `pvkit-secret-${Math.random().toString(36).slice(2)}`;
    const v = s.hv.createDomain({
      name: "victim",
      memoryMiB: 8,
      program: hostileGuest("../../guests/idle"),
      rings: false,
      cmdline: secret,
    });
    await until(() => s.hv.consoleLog(v.domid).includes("idle: up"), "the victim to boot");
    const kept = new Set(ballooned.map((f) => f.mfn));
    expect([...v.p2m.values()].filter((f) => kept.has(f.mfn))).toEqual([]);

    s.hv.evtchn.sendVirq(a.domid, VIRQ_DEBUG);
    expect((await shutdownOf(s.hv, a.domid)).reason).toBe(0);
    // Nothing of the victim in its run; its given-back pages hold its own marks, untouched; asked
    // for again, they come back to it scrubbed.
    expect(phase(a.domid, "scanned")).toMatchObject({
      found: 0,
      marked: COUNT,
      regrew: COUNT,
      scrubbed: COUNT,
    });

    // Once its worker is gone, its frames go back to the machine, zeroed.
    const mfns = [...a.p2m.values()].map((f) => f.mfn);
    s.hv.destroyDomain(a.domid);
    await until(() => mfns.every((mfn) => s.hv.frames.get(mfn) === undefined), "its frames to be freed");
    const arena = s.hv.frames.arena;
    for (const mfn of mfns) expect(new Uint8Array(arena.view(mfn)).every((b) => b === 0)).toBe(true);
    s.hv.destroyDomain(v.domid);
    await healthy(s);
  });
});
