/**
 * A raw guest that abuses posted traps (posted.test.ts). PvkitMachine.post stores a trap and returns
 * without its answer; the vCPU's next trap collects that answer first. It tries:
 *
 *   refused — posting anything but event_channel_op/EVTCHNOP_send (a block, a shutdown, a
 *             console write, another event-channel command), or with arguments that are not
 *             registers: each must throw a TypeError, and nothing may be left in flight;
 *   interrupt — a notify posted from a realm timer while the vCPU is blocked in SCHEDOP_block (as
 *             dom0's host I/O callbacks do): it ends the block first, and is delivered;
 *   order   — a send posted to its own IPI port must be delivered by the time its next trap
 *             returns (the next trap collects the answer first);
 *   console — the kernel's own posted notify (arch.notify), then a console.log of a line longer
 *             than a page, written through the scratch page that holds the notify's struct,
 *             while the trap service is still asleep: the notify must reach its port;
 *   storm   — `storm=<n>` posts back to back, to ports it does not have and with pointers outside
 *             its memory: the host must answer them all and stay well, and a normal call after
 *             the storm must work;
 *   last    — a post left uncollected when the guest powers off.
 *
 * It reports one JSON line and powers off.
 */
import * as L from "@pvkit/abi/layout";
import { currentMachine } from "@pvkit/guest-kernel/arch/machine";
import { PAGE, arch, arg, hc, memory, report } from "../../guests/raw.ts";

const m = currentMachine();
const post = m.post!.bind(m);
const SEND = BigInt(L.EVTCHNOP_send);
/** Where the posted sends' evtchn_send structs go: page 6, its own and used for nothing else. */
const ARGS = 6 * PAGE;

function refusal(fn: () => void): string {
  try {
    fn();
    return "posted";
  } catch (e) {
    return e instanceof TypeError ? "TypeError" : String(e);
  }
}

const refused = {
  block: refusal(() => post(L.__HYPERVISOR_sched_op, BigInt(L.SCHEDOP_block), 0n, 0n, 0n, 0n)),
  shutdown: refusal(() =>
    post(L.__HYPERVISOR_sched_op, BigInt(L.SCHEDOP_shutdown), BigInt(ARGS), 0n, 0n, 0n),
  ),
  console: refusal(() =>
    post(L.__HYPERVISOR_console_io, BigInt(L.CONSOLEIO_write), 4n, BigInt(ARGS), 0n, 0n),
  ),
  close: refusal(() =>
    post(L.__HYPERVISOR_event_channel_op, BigInt(L.EVTCHNOP_close), BigInt(ARGS), 0n, 0n, 0n),
  ),
  numberArgs: refusal(() =>
    post(L.__HYPERVISOR_event_channel_op, 4 as unknown as bigint, BigInt(ARGS), 0n, 0n, 0n),
  ),
  objectArgs: refusal(() =>
    post(L.__HYPERVISOR_event_channel_op, SEND, { valueOf: () => 0n } as unknown as bigint, 0n, 0n, 0n),
  ),
};
// Nothing refused is in flight: a synchronous call works at once.
const afterRefusals = Number(hc.xenVersion.version());

const pending = new BigUint64Array(arch.sharedInfo.buffer, L.SharedInfo.offsets.evtchn_pending, 64);

// Interrupt: the port is masked, so its send raises no upcall and cannot end the block itself; only
// the post, which must end the block before it can store its own trap, does.
const masked = hc.eventChannelOp.bindIpi({ vcpu: 0 }).port;
const maskedBit = 1n << BigInt(masked & 63);
const mask = new BigUint64Array(arch.sharedInfo.buffer, L.SharedInfo.offsets.evtchn_mask, 64);
Atomics.or(mask, masked >> 6, maskedBit);
const interruptRounds = 50;
let interruptDelivered = 0;
for (let i = 0; i < interruptRounds; i++) {
  Atomics.and(pending, masked >> 6, ~maskedBit);
  let fired!: () => void;
  const notified = new Promise<void>((r) => (fired = r));
  setTimeout(() => {
    arch.notify!(masked);
    fired();
  }, 1);
  await Promise.all([hc.schedOp.block(), notified]);
  hc.xenVersion.version(); // collects the posted send's answer first
  if ((Atomics.load(pending, masked >> 6) & maskedBit) !== 0n) interruptDelivered++;
}

// Order: a send posted to our own IPI port is pending once the next trap returns.
const ipi = hc.eventChannelOp.bindIpi({ vcpu: 0 }).port;
const bit = 1n << BigInt(ipi & 63);
let delivered = 0;
const rounds = 200;
for (let i = 0; i < rounds; i++) {
  Atomics.and(pending, ipi >> 6, ~bit);
  memory.write(ARGS, new Uint8Array(new Uint32Array([ipi]).buffer));
  post(L.__HYPERVISOR_event_channel_op, SEND, BigInt(ARGS), 0n, 0n, 0n);
  hc.xenVersion.version(); // collects the posted send's answer first
  if ((Atomics.load(pending, ipi >> 6) & bit) !== 0n) delivered++;
}

// Console: a long line written while the kernel's notify waits for the sleeping service.
const consoleRounds = 30;
let consoleDelivered = 0;
for (let i = 0; i < consoleRounds; i++) {
  await new Promise((r) => setTimeout(r, 2)); // the service goes back to sleep
  Atomics.and(pending, ipi >> 6, ~bit);
  arch.notify!(ipi);
  console.log("x".repeat(5000));
  hc.xenVersion.version();
  if ((Atomics.load(pending, ipi >> 6) & bit) !== 0n) consoleDelivered++;
}

// Storm: posts back to back, bad ports and bad pointers mixed with good ones.
const storm = Number(arg("storm"));
const bad = [BigInt(ARGS), 0n, arch.startInfo.nr_pages * BigInt(PAGE) + 12345n, 1n << 62n, (1n << 64n) - 4n];
memory.write(ARGS, new Uint8Array(new Uint32Array([4095]).buffer)); // a port it does not have
for (let i = 0; i < storm; i++) post(L.__HYPERVISOR_event_channel_op, SEND, bad[i % bad.length]!, 0n, 0n, 0n);
const afterStorm = Number(hc.xenVersion.version());

report({
  refused,
  afterRefusals,
  interruptRounds,
  interruptDelivered,
  rounds,
  delivered,
  consoleRounds,
  consoleDelivered,
  storm,
  afterStorm,
});
// Last: a send posted and never collected by a later trap of this guest's own but the shutdown.
memory.write(ARGS, new Uint8Array(new Uint32Array([ipi]).buffer));
post(L.__HYPERVISOR_event_channel_op, SEND, BigInt(ARGS), 0n, 0n, 0n);
hc.schedOp.shutdown({ reason: 0 });
