// A trap's ring tells its guest whether the trap service was asleep: if it was, the answer is a
// wake-up away and the guest sleeps at once instead of spinning through it (realm/trap.ts). Here the
// service's side is played by the test: a waiter on the doorbell (this process), or the doorbell's
// asleep word (a cell, whose guests cannot reach this process's waiters).
import { describe, expect, it } from "vitest";
import { cellWakes, DOORBELL_ASLEEP, DOORBELL_COUNT, localWakes } from "../src/realm/wakes.ts";

const doorbell = () => new Int32Array(new SharedArrayBuffer(8));
const regs = () => new Int32Array(new SharedArrayBuffer(64));

describe("ringing the doorbell", () => {
  it("in this process: says asleep only while the service waits on the doorbell, and wakes it", async () => {
    const bell = doorbell();
    const wakes = localWakes(regs(), bell);
    expect(wakes.ringDoorbell()).toBe(false); // nobody waits: the service is polling
    const wait = Atomics.waitAsync(bell, DOORBELL_COUNT, Atomics.load(bell, DOORBELL_COUNT));
    expect(wait.async).toBe(true);
    expect(wakes.ringDoorbell()).toBe(true);
    expect(await wait.value).toBe("ok");
    expect(Atomics.load(bell, DOORBELL_COUNT)).toBe(2);
  });

  it("in a cell: says asleep as the asleep word does, and rings the cell's bell only then", () => {
    const bell = doorbell();
    let rung = 0;
    const futex = { wait: () => "ok" };
    const wakes = cellWakes(regs(), new Int32Array(16), bell, futex, {
      ring: () => void rung++,
      next: () => Promise.resolve(),
    });
    expect(wakes.ringDoorbell()).toBe(false);
    expect(rung).toBe(0);
    Atomics.store(bell, DOORBELL_ASLEEP, 1);
    expect(wakes.ringDoorbell()).toBe(true);
    expect(rung).toBe(1);
    expect(Atomics.load(bell, DOORBELL_COUNT)).toBe(2);
  });
});
