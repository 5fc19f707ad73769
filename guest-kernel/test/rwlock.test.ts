/** The filesystem's readers-writer lock: readers together, a writer alone, a waiting writer first. */
import { describe, expect, it } from "vitest";
import { RwLock } from "../src/fs/rwlock.ts";

/** A promise and the function that settles it: a step the test releases when it chooses. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

describe("RwLock", () => {
  it("runs readers together, a writer alone, and a waiting writer before later readers", async () => {
    const lock = new RwLock();
    const log: string[] = [];
    const r1 = gate();
    const r2 = gate();
    const w = gate();
    const a = lock.read(async () => {
      log.push("r1 in");
      await r1.p;
      log.push("r1 out");
    });
    const b = lock.read(async () => {
      log.push("r2 in");
      await r2.p;
      log.push("r2 out");
    });
    const c = lock.write(async () => {
      log.push("w in");
      await w.p;
      log.push("w out");
    });
    const d = lock.read(async () => void log.push("r3"));
    await Promise.resolve();
    expect(log).toEqual(["r1 in", "r2 in"]); // both readers in; the writer waits, and r3 behind it
    r1.open();
    r2.open();
    await a;
    await b;
    while (!log.includes("w in")) await Promise.resolve();
    expect(log).not.toContain("r3");
    w.open();
    await Promise.all([c, d]);
    expect(log).toEqual(["r1 in", "r2 in", "r1 out", "r2 out", "w in", "w out", "r3"]);
  });

  it("releases the lock when the holder throws", async () => {
    const lock = new RwLock();
    await expect(lock.write(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await lock.write(async () => 7)).toBe(7);
  });
});
