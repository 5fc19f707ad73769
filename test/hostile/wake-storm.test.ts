/**
 * The trap service answers a blocked vCPU the moment its block ends: inside the pass that ended it
 * (another vCPU's EVTCHNOP_send), or inside its own wake request (trap-service.ts). A worker that
 * escaped its realm holds its vCPU's register block and can write anything into it, as fast as a
 * thread can: wake requests without end, a state word flipped between TRAPPED, IDLE and DONE under
 * the service, random calls — blocks, polls, sends to ports it does not have, calls with pointers
 * nowhere. This test plays such a worker, a thread holding the very page the domain's worker holds,
 * and checks that no answer goes astray: a domain created during the storm boots, makes its
 * xenstore calls through dom0 (events both ways, each answered to its own call) and powers off
 * cleanly; the bystander keeps ticking; dom0 answers; and the attacker's domain is destroyed.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  PVKIT_TRAP_DONE,
  PVKIT_TRAP_DOORBELL_WORD,
  PVKIT_TRAP_IDLE,
  PVKIT_TRAP_TRAPPED,
} from "@pvkit/abi/layout";
import { REPO, control, healthy, shutdownOf, stage, until, type Stage } from "./harness.ts";

let s: Stage;
beforeAll(async () => void (s = await stage()), 60_000);
afterAll(() => s?.close());

/**
 * The storm, in a worker thread given the attacker's vCPU page, the machine doorbell and a stop
 * word. Calls: SCHEDOP_block and SCHEDOP_poll (29/1, 29/3), EVTCHNOP_send (32/4) on ports 0-63,
 * xen_version (17/0); never SCHEDOP_shutdown, so the domain lives through the whole storm.
 */
const STORM = `
const { workerData: { page, doorbell, stop, states, wakeWord } } = require("node:worker_threads");
const words = new Int32Array(page, 0, 16);
const regs = new BigUint64Array(page, 0, 8);
const bell = new Int32Array(doorbell, 0, 2);
const halt = new Int32Array(stop);
const calls = [[29, 1n], [29, 3n], [32, 4n], [17, 0n]];
let x = 12345;
let rounds = 0;
while (Atomics.load(halt, 0) === 0) {
  for (let i = 0; i < 1000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const [op, sub] = calls[x & 3];
    Atomics.add(words, wakeWord, 1);
    words[1] = op;
    regs[1] = sub;
    regs[2] = BigInt(x & 0xffff) * 8n; // an address in or past the domain's memory
    regs[3] = BigInt((x >>> 8) & 63);
    Atomics.store(words, 0, states[(x >>> 16) % states.length]);
    Atomics.add(bell, 0, 1);
    Atomics.notify(bell, 0);
  }
  rounds++;
}
require("node:worker_threads").parentPort.postMessage(rounds);
`;

it("a worker storming its register block with wake requests and calls gets no answer astray", async () => {
  // A raw guest that never traps once up: every call on its vCPU from then on is the storm's.
  const kernel = new URL("./guests/storm-quiet.ts", import.meta.url).href;
  const storm = s.hv.createDomain({ name: "storm", memoryMiB: 4, kernel, rings: false });
  const stormId = storm.domid;
  await until(() => s.hv.consoleLog(stormId).includes('{"up":true}'), "the storm domain to boot");

  const stop = new SharedArrayBuffer(4);
  const thread = new Worker(STORM, {
    eval: true,
    workerData: {
      page: storm.vcpu.page.buffer,
      doorbell: s.hv.trap.doorbellFrame.buffer,
      stop,
      // TRAPPED twice as often as IDLE or DONE: most writes are calls.
      states: [PVKIT_TRAP_TRAPPED, PVKIT_TRAP_TRAPPED, PVKIT_TRAP_IDLE, PVKIT_TRAP_DONE],
      wakeWord: PVKIT_TRAP_DOORBELL_WORD,
    },
  });
  const rounds = new Promise<number>((r) => thread.once("message", r));
  const exited = new Promise((r) => thread.once("exit", r));
  const served = storm.vcpu.traps;
  try {
    // A domain that starts during the storm: every call it makes — xenstore through dom0, events
    // both ways — must get its own answer (a wrong one crashes it: timer-calls checks each).
    const name = "during-storm";
    const cfgFile = join(s.dir, `${name}.cfg`);
    const cfg = `name = "${name}"\nkernel = "${join(REPO, "test/guests/timer-calls.ts")}"\nmemory = 8\n`;
    writeFileSync(cfgFile, cfg);
    const { domid } = await control<{ domid: number }>(s, { op: "create", config: cfg, file: cfgFile });
    expect((await shutdownOf(s.hv, domid)).reason).toBe(0);
    await healthy(s);
    // The storm reached the service: its calls were served, not ignored.
    await until(() => storm.vcpu.traps > served + 1000, "the storm's calls to be served");
  } finally {
    Atomics.store(new Int32Array(stop), 0, 1);
  }
  expect(await rounds).toBeGreaterThan(0);
  await exited;

  // The storm hurt nobody but its own domain, which still runs and is destroyed as any other.
  expect(storm.state).toBe("running");
  expect(s.hv.destroyDomain(stormId)).toBe(0);
  await until(() => !s.hv.domains.has(stormId), "the storm domain to be gone");
  await healthy(s);
}, 120_000);
