/**
 * The machine doorbell is the one frame every domain's worker maps: guests ring it after a trap and
 * the trap service sleeps on it. The service finds traps by polling the vCPUs that were busy lately
 * and trusts the doorbell's count only as a hint of when to look at the others
 * (hypervisor/src/transport/trap-service.ts). A worker that escaped its realm holds that frame and
 * can write anything into it; this test plays such a worker — a thread holding the very frame the
 * workers get — and checks that whatever it writes, other domains' traps are still found: a domain
 * created during the attack boots and calls its kernel, the bystander keeps ticking, dom0 answers.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, control, healthy, shutdownOf, stage, type Stage } from "./harness.ts";

let s: Stage;
beforeAll(async () => void (s = await stage()), 60_000);
afterAll(() => s?.close());

/**
 * The attacker's loop, run in a worker thread given the doorbell frame (words: count, asleep) and a
 * stop word. Each attack writes as fast as a thread can.
 */
const ATTACKER = `
const { workerData: { doorbell, stop, attack } } = require("node:worker_threads");
const d = new Int32Array(doorbell, 0, 2);
const halt = new Int32Array(stop);
const pinned = Atomics.load(d, 0);
while (Atomics.load(halt, 0) === 0) {
  for (let i = 0; i < 1000; i++) {
    if (attack === "pin") { Atomics.store(d, 0, pinned); Atomics.store(d, 1, 0); }
    else if (attack === "flood") { Atomics.add(d, 0, 1000); Atomics.notify(d, 0); }
    else if (attack === "rewind") { Atomics.sub(d, 0, 1); }
  }
}
`;

/** Runs `attack` in a thread of its own until the returned function is called. */
function attacker(attack: string): () => Promise<void> {
  const stop = new SharedArrayBuffer(4);
  const w = new Worker(ATTACKER, {
    eval: true,
    workerData: { doorbell: s.hv.trap.doorbellFrame.buffer, stop, attack },
  });
  return async () => {
    Atomics.store(new Int32Array(stop), 0, 1);
    await new Promise((r) => w.once("exit", r));
  };
}

describe.each([
  ["pin", "holds the count still and clears the asleep word, hiding every ring", true],
  ["rewind", "counts the doorbell backwards, cancelling rings", true],
  ["flood", "rings without trapping, a thousand at a time", false],
])("a worker that writes the doorbell: %s", (attack, what, seen) => {
  it(`${what}: other domains' traps are still served`, async () => {
    const fullScans = s.hv.trap.fullScans;
    const forgeries = s.hv.trap.forgeries;
    const stopAttack = attacker(attack);
    try {
      // A domain that starts during the attack: its vCPU is in nobody's hot set, so only a full scan
      // can find its first trap. It resumes from its realm's own timers too, so its wake requests
      // (the other thing the doorbell counts) must be found as well.
      const name = `during-${attack}`;
      const file = join(s.dir, `${name}.cfg`);
      const config = `name = "${name}"\nkernel = "${join(REPO, "test/guests/timer-calls.ts")}"\nmemory = 8\n`;
      writeFileSync(file, config);
      const { domid } = await control<{ domid: number }>(s, { op: "create", config, file });
      // SHUTDOWN_poweroff: main() returned, every xenstore call answered (a failed one crashes it).
      expect((await shutdownOf(s.hv, domid)).reason).toBe(0);
      await healthy(s);
    } finally {
      await stopAttack();
    }
    expect(s.hv.trap.fullScans).toBeGreaterThan(fullScans);
    // The service saw the forger's hand (so it kept its 100 ms backstop); a flood is only rings.
    if (seen) expect(s.hv.trap.forgeries).toBeGreaterThan(forgeries);
    await healthy(s);
  }, 120_000);
});
