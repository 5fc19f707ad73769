// The memory watch decides from numbers it reads: the process's RSS, each domain's checkpoint count
// and idleness, its thread's page faults. Here those numbers are scripted, so each rule is tested
// on its own: who is stopped, and who must not be while others boot beside it.
import { describe, expect, it } from "vitest";
import type { Domain } from "../src/domain/domain.ts";
import { MemoryWatch } from "../src/memory/watch.ts";
import { CHECKPOINTS, STATUS_BYTES } from "../src/realm/vcpu-page.ts";

const MiB = 1024 * 1024;

/** A domU as the watch sees it: a status block, a worker in process 1 that never idles. */
function domU(domid: number) {
  const status = new SharedArrayBuffer(STATUS_BYTES);
  const words = new Int32Array(status);
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
  return { d: d as unknown as Domain, checkpoint: () => Atomics.add(words, CHECKPOINTS, 1) };
}

/** A watch over process 1 whose RSS is `rss.now`; no /proc thread ids, so only a sole suspect is stopped. */
function watch() {
  const rss = { now: 1000 * MiB };
  let started = 0;
  const stopped: number[] = [];
  const w = new MemoryWatch({
    boundOf: () => 64 * MiB,
    stop: (d) => stopped.push(d.domid),
    workersStarted: () => started,
    rssOf: () => rss.now,
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
});
