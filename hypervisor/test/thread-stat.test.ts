// The doze backstop reads a cell's worker thread's CPU time from a kept-open /proc stat file
// (cell/doze-backstop.ts). Here against this process's own main thread, read the plain way.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ThreadStat } from "../src/cell/doze-backstop.ts";

/** utime + stime of a thread, from a fresh read of its stat file, split as proc(5) says. */
function plainTicks(pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

describe.skipIf(process.platform !== "linux")("a thread's stat file, kept open (reads /proc)", () => {
  it("reads the thread's CPU time again at each look, as a fresh read does", () => {
    const stat = new ThreadStat(process.pid, process.pid);
    // A fresh read just after may have seen the thread run one clock tick more, no more.
    const near = (kept: number) => expect([0, 1]).toContain(plainTicks(process.pid, process.pid) - kept);
    const first = stat.ticks()!;
    near(first);
    const until = performance.now() + 300; // spin: the main thread's CPU time moves
    while (performance.now() < until);
    const second = stat.ticks()!;
    expect(second).toBeGreaterThan(first);
    near(second);
    stat.close();
    expect(stat.ticks()).toBeUndefined();
  });

  it("says nothing of a thread that is not there", () => {
    expect(new ThreadStat(process.pid, 0).ticks()).toBeUndefined();
  });
});
