// The memory watch decides from numbers it reads: the process's RSS, each domain's checkpoint count
// and idleness, its thread's page faults. Here those numbers are scripted, so each rule is tested
// on its own: who is stopped, and who must not be while others boot beside it.
import { describe, expect, it } from "vitest";
import type { Domain } from "../src/domain/domain.ts";
import { MemoryWatch } from "../src/memory/watch.ts";
import { CHECKPOINTS, STATUS_BYTES, THREAD_ID } from "../src/realm/vcpu-page.ts";

const MiB = 1024 * 1024;

/** A domU as the watch sees it: a status block, a worker in process 1 that never idles. */
function domU(domid: number) {
  const status = new SharedArrayBuffer(STATUS_BYTES);
  const words = new Int32Array(status);
  words[THREAD_ID] = domid; // its OS thread: faultsOf below is keyed by it
  const d = {
    domid,
    gone: false,
    alive: true,
    privileged: false,
    vcpu: {
      statusViews: { big: new BigInt64Array(status, 0, 2), words },
      pageViews: { sampler: new Int32Array(2) }, // its sampler never dozes
    },
    worker: { pid: 1, activity: () => ({ working: 0, idle: 0 }) },
  };
  return { d: d as unknown as Domain, words, checkpoint: () => Atomics.add(words, CHECKPOINTS, 1) };
}

/**
 * A watch over process 1 whose RSS is `rss.now`. Without `faults` no thread's page faults are known,
 * so only a sole suspect is stopped; with it, thread `domid` has taken `faults[domid]` so far.
 */
function watch(faults?: Record<number, number>, ending: Domain[] = []) {
  const rss = { now: 1000 * MiB };
  let started = 0;
  const stopped: number[] = [];
  const w = new MemoryWatch({
    ending: () => ending,
    boundOf: () => 64 * MiB,
    stop: (d) => stopped.push(d.domid),
    workersStarted: () => started,
    rssOf: () => rss.now,
    faultsOf: (_pid, tid) => (faults ? (faults[tid] ?? 0) : undefined),
    minRunMs: 0,
  });
  return { w, rss, stopped, start: () => started++ };
}

describe("memory watch", () => {
  it("stops a domain that runs without a checkpoint while its process grows past its bound", () => {
    const { w, rss, stopped, start } = watch();
    const a = domU(1);
    start();
    a.checkpoint(); // booted
    w.mark([a.d]);
    rss.now += 100 * MiB; // within bound + slack (64 + 64)
    w.tick();
    expect(stopped).toEqual([]);
    rss.now += 100 * MiB;
    w.tick();
    expect(stopped).toEqual([1]);
  });

  it("does not stop a domain that passed a checkpoint since the mark", () => {
    const { w, rss, stopped, start } = watch();
    const a = domU(1);
    start();
    a.checkpoint();
    w.mark([a.d]);
    rss.now += 300 * MiB;
    a.checkpoint();
    w.tick();
    expect(stopped).toEqual([]);
  });

  it("forgives what workers booting during the run grow, even those started before it began", () => {
    const { w, rss, stopped, start } = watch();
    const a = domU(1);
    start();
    a.checkpoint();
    // Ten workers started a moment before a's run began; none has reached a checkpoint yet.
    const others = Array.from({ length: 10 }, (_, i) => domU(2 + i));
    for (let i = 0; i < others.length; i++) start();
    const all = [a.d, ...others.map((o) => o.d)];
    w.mark(all);
    for (const o of others) o.checkpoint(); // they boot, and the process grows by ~20 MiB each
    rss.now += 10 * 20 * MiB + 100 * MiB;
    w.tick();
    expect(stopped).toEqual([]);
    // Past what their boots explain, a's run is to blame again.
    rss.now += 10 * 32 * MiB;
    w.tick();
    expect(stopped).toEqual([1]);
  });

  /** Two booted domUs (threads 1 and 2) of one process, marked, with their faults scripted. */
  function twoSuspects() {
    const faults: Record<number, number> = { 1: 0, 2: 0 };
    const { w, rss, stopped, start } = watch(faults);
    const pair = [domU(1), domU(2)];
    for (const x of pair) (start(), x.checkpoint());
    w.mark(pair.map((x) => x.d));
    return { w, rss, stopped, faults };
  }

  it("of two suspects in one process, stops the one whose faults explain the growth, however slowly", () => {
    // A loaded host slows a bomb's thread (1): here it takes 256 faults (1 MiB) a tick, a quarter
    // of FAULTS_PER_TICK, yet every byte the process grows is its own. Its neighbour (2) computes.
    const { w, rss, stopped, faults } = twoSuspects();
    rss.now += 200 * MiB; // both are suspects: past 64 + 64
    for (let tick = 0; tick < 40 && stopped.length === 0; tick++) {
      w.tick();
      faults[1] += 256;
      rss.now += MiB;
    }
    expect(stopped).toEqual([1]);
  });

  it("stops neither suspect while the growth is someone else's", () => {
    const { w, rss, stopped, faults } = twoSuspects();
    for (let tick = 0; tick < 40; tick++) {
      rss.now += 10 * MiB; // a third domain's thread (awake, passing checkpoints) grows the process
      faults[1] += 100; // the two take a few faults each, far from half of it
      faults[2] += 50;
      w.tick();
    }
    expect(stopped).toEqual([]);
  });

  // With cells off a destroyed domain's thread may run on for a while: V8 cannot interrupt some
  // builtins (filling a dictionary array of 2^26 elements took ~40 s), and all that time it grows
  // the process every domain shares. Its growth is its own, not that of whoever runs beside it.
  describe("a destroyed domain's thread, still ending", () => {
    /**
     * Domain 9 was told to end before a's run began and its thread has not ended: destroyed (the
     * hypervisor marks it no more), or only shut down, still in the table and still busy, so the
     * CPU sampler hands it to mark() among the awake.
     */
    function withZombie(shutDownOnly = false) {
      const zombie = domU(9);
      const faults: Record<number, number> = { 1: 0, 9: 5000 };
      const ending: Domain[] = [];
      const { w, rss, stopped, start } = watch(faults, ending);
      const a = domU(1);
      start();
      a.checkpoint();
      (zombie.d as { alive: boolean }).alive = false;
      ending.push(zombie.d);
      w.mark(shutDownOnly ? [a.d, zombie.d] : [a.d]);
      return { w, rss, stopped, faults, zombie };
    }

    it.each([
      ["destroyed", false],
      ["shut down, still marked awake", true],
    ])("is not blamed on a domain that allocates fast within its own bound (%s)", (_, shutDownOnly) => {
      const { w, rss, stopped, faults } = withZombie(shutDownOnly);
      for (let tick = 0; tick < 25; tick++) {
        faults[9]! += 2560; // the ending thread: 10 MiB a tick, 250 MiB in all
        faults[1]! += 1024; // the running domain: 4 MiB a tick (FAULTS_PER_TICK), 100 MiB in all
        rss.now += 14 * MiB;
        w.tick();
      }
      expect(stopped).toEqual([]);
    });

    it("counts for nothing when its status block names a running domain's thread", () => {
      // A thread id is the domain's own word: one forged to name the bomb's thread must not make
      // the bomb's faults look like the ending thread's growth.
      const { w, rss, stopped, faults, zombie } = withZombie();
      zombie.words[THREAD_ID] = 1;
      for (let tick = 0; tick < 40 && stopped.length === 0; tick++) {
        faults[1]! += 2048;
        rss.now += 8 * MiB;
        w.tick();
      }
      expect(stopped).toEqual([1]);
    });

    it("does not hide a domain that grows past its own bound beside it", () => {
      const { w, rss, stopped, faults } = withZombie();
      for (let tick = 0; tick < 40 && stopped.length === 0; tick++) {
        faults[9]! += 2560;
        faults[1]! += 2048; // 8 MiB a tick: past 64 + 64 MiB in 17 ticks
        rss.now += 18 * MiB;
        w.tick();
      }
      expect(stopped).toEqual([1]);
    });
  });
});
