import { describe, expect, it } from "vitest";
import { Scheduler, WaitQueue } from "../src/kernel/sched.ts";
import { Events } from "../src/kernel/events.ts";
import { FakeXen } from "./helpers/fake-xen.ts";

describe("cooperative scheduler", { timeout: 5000 }, () => {
  it("interleaves tasks at their yields, round-robin", async () => {
    const s = new Scheduler(null);
    const trace: string[] = [];
    const loop = s.run();
    const a = s.spawn("a", async (t) => {
      for (let i = 0; i < 3; i++) {
        trace.push(`a${i}`);
        await t.yield();
      }
    });
    const b = s.spawn("b", async (t) => {
      for (let i = 0; i < 3; i++) {
        trace.push(`b${i}`);
        await t.yield();
      }
    });
    await Promise.all([a, b]);
    s.stop();
    await loop;
    expect(trace).toEqual(["a0", "b0", "a1", "b1", "a2", "b2"]);
  });

  it("shows waiting tasks and their wait channel in list(), and failures", async () => {
    const s = new Scheduler(null);
    const loop = s.run();
    const q = new WaitQueue();
    const errors: string[] = [];
    s.onTaskError = (name) => errors.push(name);
    const waiter = s.spawn("driver", (t) => t.wait("ring", q.wait()).then(() => 42));
    const bad = s.spawn("bad", async () => {
      throw new Error("oops");
    });
    await bad;
    await new Promise((r) => setImmediate(r));
    const ps = s.list();
    expect(ps.find((t) => t.name === "driver")).toMatchObject({ state: "waiting", wchan: "ring" });
    expect(ps.find((t) => t.name === "bad")?.state).toBe("failed");
    expect(errors).toEqual(["bad"]);
    expect(s.alive).toBe(1);
    q.wake();
    expect(await waiter).toBe(42);
    expect(s.list().find((t) => t.name === "driver")?.state).toBe("done");
    s.stop();
    await loop;
  });

  it("blocks the vCPU when idle and runs event handlers when woken", async () => {
    const xen = new FakeXen().live();
    const ev = new Events(xen.shared, xen);
    const s = new Scheduler(ev);
    let fired = 0;
    ev.bind(3, () => fired++);
    const loop = s.run();
    await new Promise((r) => setTimeout(r, 10));
    expect(xen.blocks).toBe(1);
    xen.raise(3);
    await new Promise((r) => setTimeout(r, 10));
    expect(fired).toBe(1);
    expect(xen.blocks).toBe(2);
    // A task woken from outside (a host callback) kicks the blocked vCPU through the self IPI.
    const done = s.spawn("late", async () => "ran");
    expect(await done).toBe("ran");
    s.stop();
    await loop;
  });
});
