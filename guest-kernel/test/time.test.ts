import { describe, expect, it } from "vitest";
import { Clock, Timers } from "../src/kernel/time.ts";
import { TimerHeap } from "../src/kernel/timers.ts";
import { Events } from "../src/kernel/events.ts";
import { VIRQ_TIMER } from "../src/kernel/xen.ts";
import { FakeXen } from "./helpers/fake-xen.ts";

function publish(v: DataView, version: number, tscTs: bigint, sys: bigint, mul: number, shift: number) {
  v.setUint32(32, version, true);
  v.setBigUint64(40, tscTs, true);
  v.setBigUint64(48, sys, true);
  v.setUint32(56, mul, true);
  v.setInt8(60, shift);
}

describe("timer heap", () => {
  it("fires in deadline order, ties in insertion order, skipping cancelled ones", () => {
    const h = new TimerHeap();
    const order: string[] = [];
    const deadlines = [50n, 10n, 30n, 10n, 70n, 20n, 30n];
    const ids = deadlines.map((d, i) => h.add(d, () => order.push(`${d}:${i}`)));
    h.cancel(ids[4]);
    expect(h.next()).toBe(10n);
    expect(h.expire(30n)).toBe(5);
    expect(order).toEqual(["10:1", "10:3", "20:5", "30:2", "30:6"]);
    expect(h.next()).toBe(50n);
    h.expire(1000n);
    expect(order.at(-1)).toBe("50:0");
    expect(h.size).toBe(0);
  });

  it("keeps order over many random timers", () => {
    const h = new TimerHeap();
    const fired: bigint[] = [];
    let seed = 42;
    for (let i = 0; i < 500; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const d = BigInt(seed % 10000);
      h.add(d, () => fired.push(d));
    }
    h.expire(10000n);
    expect(fired).toHaveLength(500);
    for (let i = 1; i < fired.length; i++) expect(fired[i] >= fired[i - 1]).toBe(true);
  });
});

describe("clock", () => {
  it("computes system time with the xen.h scaling formula", () => {
    const xen = new FakeXen();
    let tsc = 1000n;
    const clock = new Clock(xen.shared, 0, () => tsc);
    publish(xen.shared, 2, 1000n, 5_000_000n, 0x80000000, 1); // 1 tick = 1 ns
    tsc = 1500n;
    expect(clock.now()).toBe(5_000_500n);
    publish(xen.shared, 4, 1000n, 5_000_000n, 0x80000000, 0); // 1 tick = 0.5 ns
    expect(clock.now()).toBe(5_000_250n);
  });

  it("refuses a record whose version stays odd (update in progress), bounded", () => {
    const xen = new FakeXen();
    const clock = new Clock(xen.shared, 0, () => 0n);
    publish(xen.shared, 3, 0n, 0n, 1, 0);
    expect(() => clock.now()).toThrow(/never settled/);
  });

  it("reads the wallclock as wc + system time", () => {
    const xen = new FakeXen();
    const clock = new Clock(xen.shared, 0, () => 2000n);
    publish(xen.shared, 2, 1000n, 1_000_000_000n, 0x80000000, 1);
    xen.shared.setUint32(3072, 2, true);
    xen.shared.setUint32(3076, 1_700_000_000, true);
    xen.shared.setUint32(3080, 5, true);
    expect(clock.wallclockNs()).toBe(1_700_000_001n * 1_000_000_000n + 5n + 1000n);
  });
});

describe("timers over set_timer_op + VIRQ_TIMER", () => {
  it("arms the hypervisor timer at the earliest deadline and wakes sleepers in order", async () => {
    const xen = new FakeXen();
    let now = 0n;
    const clock = new Clock(xen.shared, 0, () => now);
    publish(xen.shared, 2, 0n, 0n, 0x80000000, 1);
    const ev = new Events(xen.shared, xen);
    const timers = new Timers(clock, xen);
    timers.init(ev);
    const woke: number[] = [];
    const a = timers.sleep(5).then(() => woke.push(5));
    const b = timers.sleep(2).then(() => woke.push(2));
    expect(xen.timer).toBe(2_000_000n);
    now = 2_000_000n;
    xen.raise(xen.virqs.get(VIRQ_TIMER)!);
    ev.dispatch();
    await b;
    expect(woke).toEqual([2]);
    expect(xen.timer).toBe(5_000_000n);
    now = 9_000_000n;
    xen.raise(timers.virqPort);
    ev.dispatch();
    await a;
    expect(woke).toEqual([2, 5]);
    expect(xen.timer).toBe(0n);
  });

  it("timeout() rejects a slow wait and disarms the timer for a fast one", async () => {
    const xen = new FakeXen();
    let now = 0n;
    const clock = new Clock(xen.shared, 0, () => now);
    publish(xen.shared, 2, 0n, 0n, 0x80000000, 1);
    const ev = new Events(xen.shared, xen);
    const timers = new Timers(clock, xen);
    timers.init(ev);
    const fast = timers.timeout(Promise.resolve(7), 10, "fast");
    expect(await fast).toBe(7);
    expect(timers.heap.size).toBe(0);
    expect(xen.timer).toBe(0n);
    const slow = timers.timeout(new Promise(() => undefined), 10, "xenstore read");
    now = 10_000_000n;
    timers.tick();
    await expect(slow).rejects.toThrow("xenstore read timed out after 10 ms");
  });
});
