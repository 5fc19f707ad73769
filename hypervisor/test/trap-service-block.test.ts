// A vCPU blocked in SCHEDOP_block or SCHEDOP_poll is answered when its block ends, in the same turn:
// most often another vCPU's EVTCHNOP_send ends it, served by the trap service in one of its polling
// passes. If the answer waited for the handler's promise, it would wait until the service's loop
// next yields — after its halt-polling, tens of microseconds later, in each half of every round trip
// between two domains. The sender is answered first: it may still be spinning for its answer, and
// waking a sleeping vCPU costs its waker ~10 µs (trap-service.ts, serve()). The test plays the
// guests on the service's own thread: it writes their register blocks as the supervisor's trap does,
// and the dispatch it gives the service blocks one vCPU and lets another end that block.
import { afterEach, expect, it } from "vitest";
import { PVKIT_TRAP_DONE, PVKIT_TRAP_IDLE, PVKIT_TRAP_TRAPPED } from "@pvkit/abi/layout";
import type { HandlerResult } from "@pvkit/abi";
import type { Domain } from "../src/domain/domain.ts";
import { Vcpu } from "../src/domain/vcpu.ts";
import type { Frame } from "../src/gnttab/host.ts";
import { TrapService } from "../src/transport/trap-service.ts";
import { DOORBELL_COUNT } from "../src/realm/wakes.ts";

const BLOCK = 1;
const SEND = 2;
const NULL = 3;
const PAGE = 4096;

const frame = () => ({ buffer: new SharedArrayBuffer(PAGE) }) as unknown as Frame;
const vcpu = () => new Vcpu({ paused: false } as Domain, 0, frame());

let service: TrapService | undefined;
afterEach(() => service?.stop());

/** What the supervisor's trap does: registers, TRAPPED, the doorbell. */
function trap(v: Vcpu, op: number, doorbell: Int32Array): void {
  v.words[1] = op;
  Atomics.store(v.words, 0, PVKIT_TRAP_TRAPPED);
  Atomics.add(doorbell, DOORBELL_COUNT, 1);
  Atomics.notify(doorbell, DOORBELL_COUNT);
}

/** As sched_op's blockUntil: a promise that settles (0) when v.wake is called. */
function block(v: Vcpu): Promise<number> {
  return new Promise<number>((resolve) => {
    v.wake = () => {
      v.wake = undefined;
      resolve(0);
    };
  });
}

async function answered(v: Vcpu): Promise<bigint> {
  while (Atomics.load(v.words, 0) !== PVKIT_TRAP_DONE) await new Promise((r) => setTimeout(r, 1));
  const r = v.big[6]!;
  Atomics.store(v.words, 0, PVKIT_TRAP_IDLE);
  return r;
}

it("answers a block a send ended right after the sender, before the service goes on", async () => {
  const blocked = vcpu();
  const sender = vcpu();
  const next = vcpu();
  /** Each vCPU's view of the other as the service posted its answer. */
  const blockedAtSenderAnswer: number[] = [];
  const senderAtBlockedAnswer: number[] = [];
  /** The blocked vCPU's state as the service went on to the next trap waiting beside the send. */
  const blockedAtNextTrap: number[] = [];
  sender.wakeGuest = () => (blockedAtSenderAnswer.push(Atomics.load(blocked.words, 0)), false);
  blocked.wakeGuest = () => (senderAtBlockedAnswer.push(Atomics.load(sender.words, 0)), false);
  let blockPromises = 0;
  const dispatch = (v: Vcpu, op: number): HandlerResult => {
    if (op === BLOCK) {
      blockPromises++;
      return block(v);
    }
    if (op === SEND) blocked.wake?.();
    else blockedAtNextTrap.push(Atomics.load(blocked.words, 0));
    return 0;
  };
  service = new TrapService(dispatch, frame());
  service.add(blocked);
  service.add(sender);
  service.add(next); // looked at after the sender: a full scan goes in the order vCPUs were added
  service.start();

  for (let round = 0; round < 3; round++) {
    trap(blocked, BLOCK, service.doorbell);
    while (blockPromises === round) await new Promise((r) => setTimeout(r, 1));
    // Both wait when the service looks: it serves the send, then the other trap, in one pass.
    trap(sender, SEND, service.doorbell);
    trap(next, NULL, service.doorbell);
    expect(await answered(sender)).toBe(0n);
    expect(await answered(next)).toBe(0n);
    expect(await answered(blocked)).toBe(0n);
  }
  // The sender first (it may still be spinning for its answer), then the block it ended, both
  // before the service goes on to the next trap: neither waits for its polling to end.
  expect(blockedAtSenderAnswer).toEqual([PVKIT_TRAP_TRAPPED, PVKIT_TRAP_TRAPPED, PVKIT_TRAP_TRAPPED]);
  expect(senderAtBlockedAnswer).toEqual([PVKIT_TRAP_DONE, PVKIT_TRAP_DONE, PVKIT_TRAP_DONE]);
  expect(blockedAtNextTrap).toEqual([PVKIT_TRAP_DONE, PVKIT_TRAP_DONE, PVKIT_TRAP_DONE]);
});

it("posts a block's answer once, and a later call on the vCPU keeps its own answer", async () => {
  const v = vcpu();
  let release: ((n: number) => void) | undefined;
  const dispatch = (vc: Vcpu, op: number): HandlerResult => {
    if (op === BLOCK) return block(vc);
    // Any other call is slow: answered when the test says, with 7.
    return new Promise<number>((resolve) => (release = resolve));
  };
  service = new TrapService(dispatch, frame());
  service.add(v);
  service.start();

  trap(v, BLOCK, service.doorbell);
  while (!v.wake) await new Promise((r) => setTimeout(r, 1));
  v.wake();
  expect(await answered(v)).toBe(0n);
  // The block's promise settles after its answer was posted; its late reaction must not answer the
  // next call on this vCPU.
  trap(v, SEND, service.doorbell);
  while (!release) await new Promise((r) => setTimeout(r, 1));
  await new Promise((r) => setTimeout(r, 5));
  expect(Atomics.load(v.words, 0)).toBe(PVKIT_TRAP_TRAPPED);
  release(7);
  expect(await answered(v)).toBe(7n);
});
