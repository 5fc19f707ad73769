/**
 * The trap service answers a blocked vCPU the moment its block ends: inside the pass that ended it
 * (another vCPU's EVTCHNOP_send, the block's answer posted right after the sender's), or inside its
 * own wake request (trap-service.ts). A worker that escaped its realm holds its vCPU's register
 * block and can write anything into it, as fast as a thread can: wake requests without end, a state
 * word flipped between TRAPPED, IDLE and DONE under the service, blocks, polls and sends on a real
 * channel, calls with pointers anywhere. This test plays two such workers, threads holding the very
 * pages their domains' workers hold, bound to each other so that one's sends end the other's
 * blocks. No answer may go astray: a domain created during the storm boots, makes its xenstore
 * calls through dom0 (events both ways, each answered to its own call) and powers off cleanly; the
 * bystander keeps ticking; dom0 answers; and the attackers' domains are destroyed as any other.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { Domain } from "@pvkit/hypervisor/domain/domain";
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

/** Where each storm domain keeps what its calls point at: an evtchn_send, and a sched_poll. */
const SEND_AT = 5 * 4096;
const POLL_AT = 6 * 4096;

/**
 * The storm, in a worker thread given a vCPU page, the machine doorbell and a stop word. Calls:
 * SCHEDOP_block, SCHEDOP_poll on the domain's port (29/1, 29/3), EVTCHNOP_send on it (32/4) and
 * xen_version (17/0), each with its pointer argument now right and now anywhere in or past the
 * domain's memory; never SCHEDOP_shutdown, so the domain lives through the whole storm.
 */
const STORM = `
const { workerData: w } = require("node:worker_threads");
const words = new Int32Array(w.page, 0, 16);
const regs = new BigUint64Array(w.page, 0, 8);
const bell = new Int32Array(w.doorbell, 0, 2);
const halt = new Int32Array(w.stop);
const calls = [[29, 1n, 0n], [29, 3n, BigInt(w.pollAt)], [32, 4n, BigInt(w.sendAt)], [17, 0n, 0n]];
let x = w.seed;
let rounds = 0;
while (Atomics.load(halt, 0) === 0) {
  for (let i = 0; i < 1000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const [op, sub, at] = calls[x & 3];
    Atomics.add(words, w.wakeWord, 1);
    words[1] = op;
    regs[1] = sub;
    regs[2] = x & 0x100 ? at : BigInt(x & 0xffff) * 8n;
    Atomics.store(words, 0, w.states[(x >>> 16) % w.states.length]);
    Atomics.add(bell, 0, 1);
    Atomics.notify(bell, 0);
  }
  rounds++;
}
require("node:worker_threads").parentPort.postMessage(rounds);
`;

/** A storm on `d`'s vCPU until `stop` is set; settles with its rounds, or fails if the thread does. */
function storm(d: Domain, stop: SharedArrayBuffer, seed: number): Promise<number> {
  const thread = new Worker(STORM, {
    eval: true,
    workerData: {
      page: d.vcpu.page.buffer,
      doorbell: s.hv.trap.doorbellFrame.buffer,
      stop,
      seed,
      sendAt: SEND_AT,
      pollAt: POLL_AT,
      // TRAPPED twice as often as IDLE or DONE: most writes are calls.
      states: [PVKIT_TRAP_TRAPPED, PVKIT_TRAP_TRAPPED, PVKIT_TRAP_IDLE, PVKIT_TRAP_DONE],
      wakeWord: PVKIT_TRAP_DOORBELL_WORD,
    },
  });
  return new Promise<number>((resolve, reject) => {
    let rounds = -1;
    thread.once("message", (n: number) => (rounds = n));
    thread.once("error", reject);
    thread.once("exit", () => (rounds >= 0 ? resolve(rounds) : reject(new Error("the storm ended early"))));
  });
}

/** Writes what `d`'s calls point at: an evtchn_send of `port`, a sched_poll of it (no timeout). */
function aim(d: Domain, port: number): void {
  const send = new DataView(d.p2m.get(SEND_AT / 4096)!.buffer);
  send.setUint32(0, port, true);
  const poll = new DataView(d.p2m.get(POLL_AT / 4096)!.buffer);
  poll.setBigUint64(0, BigInt(POLL_AT + 64), true); // ports
  poll.setUint32(8, 1, true); // nr_ports
  poll.setBigUint64(16, 0n, true); // timeout: none
  poll.setUint32(64, port, true);
}

it("two workers storming their register blocks, sending to each other, get no answer astray", async () => {
  // Raw guests that never trap once up: every call on their vCPUs from then on is the storm's. They
  // are bound to each other, so one's sends end the other's blocks and polls.
  const kernel = new URL("./guests/storm-quiet.ts", import.meta.url).href;
  const [a, b] = ["storm-a", "storm-b"].map((name) =>
    s.hv.createDomain({ name, memoryMiB: 4, kernel, rings: false }),
  ) as [Domain, Domain];
  for (const d of [a, b])
    await until(() => s.hv.consoleLog(d.domid).includes('{"up":true}'), `${d.name} to boot`);
  const portA = s.hv.evtchn.allocUnbound(a.domid, false, a.domid, b.domid);
  const portB = s.hv.evtchn.bindInterdomain(b.domid, a.domid, portA);
  expect(portA).toBeGreaterThan(0);
  expect(portB).toBeGreaterThan(0);
  aim(a, portA);
  aim(b, portB);

  const stop = new SharedArrayBuffer(4);
  const storms = [storm(a, stop, 12345), storm(b, stop, 67890)];
  const served = a.vcpu.traps + b.vcpu.traps;
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
    // The storms reached the service: their calls were served, not ignored.
    await until(() => a.vcpu.traps + b.vcpu.traps > served + 2000, "the storms' calls to be served");
  } finally {
    Atomics.store(new Int32Array(stop), 0, 1);
  }
  for (const rounds of await Promise.all(storms)) expect(rounds).toBeGreaterThan(0);
  // Their sends went through, on the channel between them (a send with a bad pointer is no send).
  expect(Math.min(a.eventsSent, b.eventsSent)).toBeGreaterThan(100);

  // The storms hurt nobody but their own domains, which still run and are destroyed as any other.
  for (const d of [a, b]) {
    expect(d.state).toBe("running");
    expect(s.hv.destroyDomain(d.domid)).toBe(0);
    await until(() => !s.hv.domains.has(d.domid), `${d.name} to be gone`);
  }
  await healthy(s);
}, 120_000);
