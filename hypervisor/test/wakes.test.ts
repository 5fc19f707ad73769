// A trap's ring tells its guest whether the trap service was asleep: if it was, the answer is a
// wake-up away and the guest sleeps at once instead of spinning through it (realm/trap.ts). Here the
// service's side is played by the test: a waiter on the doorbell (this process), or the doorbell's
// asleep word (a cell, whose guests cannot reach this process's waiters).
import { describe, expect, it } from "vitest";
import { PVKIT_TRAP_DONE, PVKIT_TRAP_TRAPPED } from "@pvkit/abi/layout";
import { cellWakes, DOORBELL_ASLEEP, DOORBELL_COUNT, localWakes } from "../src/realm/wakes.ts";
import { WAIT_MODE, WaitMode } from "../src/realm/vcpu-page.ts";

const doorbell = () => new Int32Array(new SharedArrayBuffer(8));
const regs = () => new Int32Array(new SharedArrayBuffer(64));
const wakeWords = () => new Int32Array(new SharedArrayBuffer(64));
/** A guest of this process that has just trapped: its registers, wake words and wakes. */
function trappedLocalGuest() {
  const r = regs();
  const w = wakeWords();
  const wakes = localWakes(r, w, doorbell());
  Atomics.store(r, 0, PVKIT_TRAP_TRAPPED);
  return { r, w, wakes };
}
/** The hypervisor's answer to a trap in this process: DONE, then a notify; how many it woke. */
const answer = (r: Int32Array) => {
  Atomics.store(r, 0, PVKIT_TRAP_DONE);
  return Atomics.notify(r, 0);
};
/**
 * A guest that asks the asleep word (a cell's, a cells-off domU's): its ring says awake and rings
 * nothing while the word is clear, then asleep and rings once it is set; the count moves each time.
 */
function ringsOnlyWhenAsleep(bell: Int32Array, wakes: { ringDoorbell(): boolean }, rung: () => number) {
  expect(wakes.ringDoorbell()).toBe(false);
  expect(rung()).toBe(0);
  Atomics.store(bell, DOORBELL_ASLEEP, 1);
  expect(wakes.ringDoorbell()).toBe(true);
  expect(rung()).toBe(1);
  expect(Atomics.load(bell, DOORBELL_COUNT)).toBe(2);
}
/** How the guest says it sleeps. */
const modeOf = (w: Int32Array) => Atomics.load(w, WAIT_MODE);

describe("ringing the doorbell", () => {
  it("in this process: says asleep only while the service waits on the doorbell, and wakes it", async () => {
    const bell = doorbell();
    const wakes = localWakes(regs(), wakeWords(), bell);
    expect(wakes.ringDoorbell()).toBe(false); // nobody waits: the service is polling
    const wait = Atomics.waitAsync(bell, DOORBELL_COUNT, Atomics.load(bell, DOORBELL_COUNT));
    expect(wait.async).toBe(true);
    // The asleep word is not trusted here (any cell can write it): the waiter is woken anyway.
    Atomics.store(bell, DOORBELL_ASLEEP, 0);
    expect(wakes.ringDoorbell()).toBe(true);
    expect(await wait.value).toBe("ok");
    expect(Atomics.load(bell, DOORBELL_COUNT)).toBe(2);
  });

  it("a domU of this process: rings the service's bell only when the asleep word is set, never notifies", async () => {
    const bell = doorbell();
    let rung = 0;
    const wakes = localWakes(regs(), wakeWords(), bell, () => (rung++, true));
    // A waiter on the doorbell with the word clear: a domU asks the word, not the waiter list.
    const wait = Atomics.waitAsync(bell, DOORBELL_COUNT, Atomics.load(bell, DOORBELL_COUNT), 50);
    ringsOnlyWhenAsleep(bell, wakes, () => rung);
    expect(wait.async && (await wait.value)).toBe("timed-out"); // the bell woke the service, not a notify
  });

  it("a domU of this process whose bell cannot be rung (closed) notifies instead", async () => {
    const bell = doorbell();
    const wakes = localWakes(regs(), wakeWords(), bell, () => false);
    const wait = Atomics.waitAsync(bell, DOORBELL_COUNT, Atomics.load(bell, DOORBELL_COUNT));
    Atomics.store(bell, DOORBELL_ASLEEP, 1);
    expect(wakes.ringDoorbell()).toBe(true);
    expect(wait.async && (await wait.value)).toBe("ok");
  });

  it("in a cell: says asleep as the asleep word does, and rings the cell's bell only then", () => {
    const bell = doorbell();
    let rung = 0;
    const futex = { wait: () => "ok" };
    const wakes = cellWakes(regs(), wakeWords(), bell, futex, {
      ring: () => void rung++,
      next: () => Promise.resolve(),
    });
    ringsOnlyWhenAsleep(bell, wakes, () => rung);
  });
});

describe("saying how a guest sleeps (the hypervisor wakes only a sleeper)", () => {
  it("in this process: Atomics while it waits for its answer, none once it has it", async () => {
    const { r, w, wakes } = trappedLocalGuest();
    const waiting = wakes.waitAsync()!;
    expect(modeOf(w)).toBe(WaitMode.atomics);
    expect(answer(r)).toBe(1);
    await waiting;
    expect(modeOf(w)).toBe(WaitMode.none);
    // Answered before it would wait: it does not wait, and says so.
    expect(wakes.waitAsync()).toBeUndefined();
    expect(modeOf(w)).toBe(WaitMode.none);
    wakes.sleep(10_000); // returns at once: the state is no longer TRAPPED
    expect(modeOf(w)).toBe(WaitMode.none);
  });

  it("an old wait's end does not clear a newer wait's word (the vCPU is asleep again)", async () => {
    // In this process: the first wait's promise settles a task after its wake; by then the vCPU
    // waits again. Were the word cleared, the hypervisor would never wake the second wait.
    const { r, w, wakes } = trappedLocalGuest();
    const first = wakes.waitAsync()!;
    answer(r);
    Atomics.store(r, 0, PVKIT_TRAP_TRAPPED); // the next trap, in the same turn
    const second = wakes.waitAsync()!;
    await first;
    expect(modeOf(w)).toBe(WaitMode.atomics);
    answer(r);
    await second;
    expect(modeOf(w)).toBe(WaitMode.none);
  });

  it("in a cell too: a bell that ends an old wait late leaves a newer wait's word set", async () => {
    const r = regs();
    const w = wakeWords();
    const rang: (() => void)[] = [];
    const wakes = cellWakes(
      r,
      w,
      doorbell(),
      { wait: () => "ok" },
      {
        ring: () => undefined,
        next: () => new Promise<void>((resolve) => rang.push(resolve)),
      },
    );
    Atomics.store(r, 0, PVKIT_TRAP_TRAPPED);
    const first = wakes.waitAsync()!;
    wakes.sleep(0); // a synchronous trap meanwhile (its futex says "ok" at once)
    const second = wakes.waitAsync()!;
    expect(modeOf(w)).toBe(WaitMode.bell);
    rang.shift()!(); // the bell byte the first wait was owed arrives only now
    await first;
    expect(modeOf(w)).toBe(WaitMode.bell);
    rang.shift()!();
    await second;
    expect(modeOf(w)).toBe(WaitMode.none);
  });
});
