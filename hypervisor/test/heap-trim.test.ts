/**
 * memory/heap-trim.ts: when the C heap is trimmed (fake clock and timers), and that the addon's
 * trim gives a fragmented arena's free pages back (a real process, real RSS).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  HeapTrimmer,
  TRIM_AFTER_MS,
  TRIM_EVERY_MS,
  TRIM_FOR_MS,
  TRIM_GAP_MS,
  TRIM_WINDOW_MS,
} from "../src/memory/heap-trim.ts";
import { SHM_ADDON_PATH } from "../src/native/shm.ts";

describe("HeapTrimmer", () => {
  let trims: number[];
  let trimmer: HeapTrimmer;
  let idle: boolean;
  beforeEach(() => {
    vi.useFakeTimers();
    trims = [];
    idle = true;
    trimmer = new HeapTrimmer(
      () => trims.push(Date.now()),
      () => idle,
      () => Date.now(),
    );
  });
  afterEach(() => {
    trimmer.stop();
    vi.useRealTimers();
  });

  it("never trims a cell where nothing started", () => {
    vi.advanceTimersByTime(10 * TRIM_FOR_MS);
    expect(trims).toEqual([]);
  });

  it("trims soon after a start, then now and then until the reducer's window has passed", () => {
    const t0 = Date.now();
    trimmer.start();
    vi.advanceTimersByTime(10 * TRIM_FOR_MS);
    const at = trims.map((t) => t - t0);
    expect(at[0]).toBe(TRIM_AFTER_MS);
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBe(TRIM_EVERY_MS);
    // The last trim is the first one at least TRIM_FOR_MS after the start: then the timer is gone.
    expect(at.at(-1)!).toBeGreaterThanOrEqual(TRIM_FOR_MS);
    expect(at.at(-2)!).toBeLessThan(TRIM_FOR_MS);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("trims a burst of activity a few times, never closer than the gap", () => {
    const t0 = Date.now();
    trimmer.start();
    for (let t = 0; t < 30_000; t += 100) {
      trimmer.activity();
      vi.advanceTimersByTime(100);
    }
    const during = trims.length;
    expect(during).toBeGreaterThanOrEqual(2);
    expect(during).toBeLessThanOrEqual(30_000 / TRIM_GAP_MS);
    vi.advanceTimersByTime(10 * TRIM_FOR_MS);
    for (let i = 1; i < trims.length; i++)
      expect(trims[i]! - trims[i - 1]!).toBeGreaterThanOrEqual(TRIM_GAP_MS);
    // Trims go on past the burst's end, and stop TRIM_FOR_MS after it.
    expect(trims.at(-1)! - t0).toBeGreaterThanOrEqual(30_000 + TRIM_FOR_MS - 100);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a trim that throws is one trim less, not an uncaught exception", () => {
    const t = new HeapTrimmer(
      () => {
        trims.push(Date.now());
        throw new Error("no thread");
      },
      () => true,
      () => Date.now(),
    );
    t.start();
    expect(() => vi.advanceTimersByTime(TRIM_AFTER_MS + TRIM_EVERY_MS)).not.toThrow();
    expect(trims.length).toBe(2);
    t.stop();
  });

  it("an activity brings a far trim nearer, and stop() ends every trim", () => {
    trimmer.start();
    vi.advanceTimersByTime(TRIM_AFTER_MS);
    expect(trims.length).toBe(1);
    vi.advanceTimersByTime(TRIM_GAP_MS); // the next would be TRIM_EVERY_MS after the first
    trimmer.activity();
    vi.advanceTimersByTime(TRIM_AFTER_MS);
    expect(trims.length).toBe(2);
    trimmer.stop();
    trimmer.start();
    vi.advanceTimersByTime(10 * TRIM_FOR_MS);
    expect(trims.length).toBe(2);
  });

  it("trims only while the domain idles, and gives up once its activity is old", () => {
    const t0 = Date.now();
    idle = false;
    trimmer.start();
    vi.advanceTimersByTime(TRIM_AFTER_MS * 5);
    expect(trims).toEqual([]); // busy: it looks again every TRIM_AFTER_MS, and does not trim
    idle = true;
    vi.advanceTimersByTime(TRIM_AFTER_MS);
    expect(trims.length).toBe(1);
    idle = false;
    vi.advanceTimersByTime(10 * TRIM_FOR_MS);
    expect(trims.length).toBe(1); // busy ever after: no trim, and the looks stop
    expect(vi.getTimerCount()).toBe(0);
    expect(Date.now() - t0).toBeGreaterThan(TRIM_FOR_MS);
  });

  it("counts no activity before a start, nor long after one: a long-lived domain is left alone", () => {
    trimmer.activity(); // idle, but never started: nothing
    vi.advanceTimersByTime(10 * TRIM_FOR_MS);
    expect(trims).toEqual([]);
    trimmer.start();
    // A domain that works and idles every 5 s for an hour.
    for (let t = 0; t < 3_600_000; t += 5000) {
      trimmer.activity();
      vi.advanceTimersByTime(5000);
    }
    const last = trims.at(-1)!;
    // The last activity that counts is at the window's end; trims go on until TRIM_FOR_MS after
    // it, and the last may come one TRIM_EVERY_MS later.
    const span = TRIM_WINDOW_MS + TRIM_FOR_MS + TRIM_EVERY_MS;
    expect(trims.length).toBeLessThanOrEqual(span / TRIM_GAP_MS + 1);
    expect(last - trims[0]!).toBeLessThanOrEqual(span);
    expect(vi.getTimerCount()).toBe(0);
    // A new start (the pooled worker got its domain) opens a new window.
    trimmer.start();
    vi.advanceTimersByTime(TRIM_AFTER_MS);
    expect(trims.at(-1)!).toBeGreaterThan(last);
  });
});

// A worker thread fills its malloc arena with 64 MiB of 8 KiB buffers, keeps one in 64 and frees the
// rest: the free chunks lie between live ones, so glibc cannot give them back from the arena's top,
// and the process keeps ~63 MiB it does not use until mallocTrim. The process reports its RSS
// before the trim and waits (no deadline of its own) until the RSS falls. V8 frees the buffers'
// memory on a sweeper thread of its own, after gc() has returned: on a loaded machine the first
// trim could run before those frees (1 full run in 4 on 2026-12-06 waited out its 60 s), so the
// process trims again every 100 ms until the RSS falls.
const CHILD = `
const { Worker } = require("node:worker_threads");
const shm = require(process.argv[1]);
const rssMiB = () => Number(require("node:fs").readFileSync("/proc/self/statm", "utf8").split(" ")[1]) * 4096 / 1048576;
const w = new Worker(\`
  const kept = [];
  let all = [];
  for (let i = 0; i < 8192; i++) all.push(Buffer.allocUnsafeSlow(8192).fill(1));
  for (let i = 0; i < all.length; i += 64) kept.push(all[i]);
  all = null;
  globalThis.gc();
  require("node:worker_threads").parentPort.postMessage(kept.length);
  setInterval(() => kept.length, 1e6);
\`, { eval: true });
w.once("message", () => {
  const before = rssMiB();
  const started = shm.mallocTrim();
  let looks = 0;
  const look = () => {
    const now = rssMiB();
    if (now < before - 32) {
      console.log(JSON.stringify({ started, before, after: now }));
      process.exit(0);
    }
    if (++looks % 10 === 0) shm.mallocTrim();
    setTimeout(look, 10);
  };
  look();
});
`;

describe("mallocTrim (native addon)", () => {
  it("gives a fragmented arena's free pages back to the kernel", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--expose-gc", "-e", CHILD, SHM_ADDON_PATH],
      { timeout: 60_000 },
    );
    const r = JSON.parse(stdout) as { started: boolean; before: number; after: number };
    expect(r.started).toBe(true);
    expect(r.before - r.after).toBeGreaterThan(32);
  }, 90_000);
});
