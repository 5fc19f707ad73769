/**
 * Hypercall fuzzing: a raw guest (guests/fuzz.ts) makes tens of thousands of seeded random traps —
 * real hypercalls and sub-ops with edge-value registers and random structs. Every result must be an
 * errno or a value, the guest must live to power off, its worker must never hold more than twice its
 * memory, no handler may throw, and dom0 and a bystander carry on. PVKIT_FUZZ_SEED and
 * PVKIT_FUZZ_CALLS replay a run (`pnpm test:long` makes a million calls).
 */
import { MAX_GRANT_FRAMES } from "@pvkit/hypervisor/memory/machine-memory";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { hypercallName } from "@pvkit/hypervisor/generated/dispatch";
import type { Domain } from "@pvkit/hypervisor/domain/domain";
import { healthy, hostileGuest, shutdownOf, stage, type Stage } from "./harness.ts";

const SEED = Number(process.env.PVKIT_FUZZ_SEED ?? 0x5eed) >>> 0;
const CALLS = Number(process.env.PVKIT_FUZZ_CALLS ?? 50_000);
/** A hang guard only: 1.2 ms a call, at least a minute (20 minutes for a million calls). */
const GUARD_MS = Math.max(60_000, CALLS * 1.2);

interface FuzzReport {
  calls: number;
  seed: number;
  ok: number;
  errnos: Record<string, number>;
  violations: unknown[];
  byOp: Record<string, number>;
}

let s: Stage;
beforeAll(async () => void (s = await stage()), 60_000);
afterAll(() => s?.close());

/** The fuzzer's report: the last one on its console (random console writes surround it). */
function fuzzReport(log: string): FuzzReport | undefined {
  const at = log.lastIndexOf('{"calls":');
  return at < 0 ? undefined : (JSON.parse(log.slice(at).split("\n")[0]!) as FuzzReport);
}

/** The call a domain's vCPU is trapped in, for a hang's message. */
function trappedIn(d: Domain): string {
  const v = d.vcpu;
  const args = [0, 1, 2, 3, 4].map((i) => `0x${v.arg(i).toString(16)}`).join(", ");
  return `${hypercallName(v.op, Number(v.arg(0)))}(${args}), state ${Atomics.load(v.words, 0)}, in flight ${v.inFlight}`;
}

/** Records the most frames each holder held at any hand-over (the hypervisor-side exposure). */
function watchExposure(stage: Stage) {
  const frames = stage.hv.frames;
  const handedTo = frames.handedTo.bind(frames);
  const peak = new Map<number, number>();
  const spy = vi.spyOn(frames, "handedTo").mockImplementation((frame, holder, asMemory) => {
    const r = handedTo(frame, holder, asMemory);
    peak.set(holder, Math.max(peak.get(holder) ?? 0, frames.exposure(holder)));
    return r;
  });
  return { peak: (uid: number) => peak.get(uid) ?? 0, restore: () => spy.mockRestore() };
}

/** Collects the dispatcher's "hypervisor bug" lines (a handler threw something not a Xen error). */
function watchHandlerBugs() {
  const bugs: string[] = [];
  const error = console.error.bind(console);
  const spy = vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    const line = args.map(String).join(" ");
    if (line.includes("hypervisor bug")) bugs.push(line);
    error(...args);
  });
  return { bugs, restore: () => spy.mockRestore() };
}

describe("a guest that makes random hypercalls", () => {
  it(
    `seed ${SEED}, ${CALLS} calls: each gets an errno or a value, and nothing else breaks`,
    async () => {
      const exposure = watchExposure(s);
      const handler = watchHandlerBugs();
      try {
        const t0 = performance.now();
        const d = s.hv.createDomain({
          name: "fuzz",
          memoryMiB: 4,
          maxMemMiB: 8,
          kernel: hostileGuest("fuzz"),
          rings: false,
          cmdline: `seed=${SEED} calls=${CALLS}`,
        });
        const { reason, why } = await shutdownOf(s.hv, d.domid, GUARD_MS).catch((e: Error) => {
          throw new Error(`${e.message.split("\n")[0]}; trapped in ${trappedIn(d)}`);
        });
        const ms = Math.round(performance.now() - t0);
        expect(reason, why).toBe(0); // it made every call and powered off

        const r = fuzzReport(s.hv.consoleLog(d.domid));
        expect(r, "no report on the fuzzer's console").toBeDefined();
        const peak = exposure.peak(d.uid);
        console.log(
          `fuzz seed ${SEED}: ${CALLS} calls in ${ms} ms, peak exposure ${peak}: ${JSON.stringify(r)}`,
        );
        expect(r!.violations).toEqual([]);
        expect([r!.calls, r!.seed]).toEqual([CALLS, SEED]);
        const failed = Object.values(r!.errnos).reduce((a, b) => a + b, 0);
        expect(r!.ok + failed).toBe(CALLS);
        expect(r!.ok).toBeGreaterThan(CALLS / 20);
        expect(Object.keys(r!.errnos).length).toBeGreaterThanOrEqual(5);

        expect(peak).toBeGreaterThan(d.maxPages / 2); // the watch saw its memory handed over
        expect(peak).toBeLessThanOrEqual(2 * d.maxPages + MAX_GRANT_FRAMES);
        expect(handler.bugs).toEqual([]);
        expect(s.hv.log.filter((l) => /bug|exception/i.test(l))).toEqual([]);
        await healthy(s);
      } finally {
        exposure.restore();
        handler.restore();
      }
    },
    GUARD_MS + 30_000,
  );
});
