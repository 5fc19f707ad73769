/**
 * A raw benchmark guest pair: domain "a" sends on an interdomain port, domain "b" answers from its
 * handler (it sees the pending bit, clears it, sends back), and "a" times each round trip. Busy: both
 * spin on their shared_info pending bit; idle: both sleep in SCHEDOP_poll. Every event goes through
 * the real EVTCHNOP_send hypercall and the hypervisor's 2-level delivery.
 *
 * The first `warm` round trips are not timed: the path is 3-5× slower until it has run a few
 * thousand times (V8 has not compiled it yet, in the guests and in the hypervisor), and the row
 * measures the path, not its warm-up. `n` are timed after them.
 */
import { SharedInfo } from "@pvkit/abi/layout";
import { arch, arg, hc, poweroff, report, waitPort } from "../../guests/raw.ts";

const role = arg("role");
const busy = arg("mode") === "busy";
const n = Number(arg("n"));
const warm = Number(arg("warm"));
const pending = new BigUint64Array(arch.sharedInfo.buffer, SharedInfo.offsets.evtchn_pending, 64);

async function wait(port: number): Promise<void> {
  const bit = 1n << BigInt(port & 63);
  if (!busy) return waitPort(port);
  while ((Atomics.load(pending, port >> 6) & bit) === 0n);
  Atomics.and(pending, port >> 6, ~bit);
}

if (role === "b") {
  const { local_port: port } = hc.eventChannelOp.bindInterdomain({
    remote_dom: Number(arg("peer")),
    remote_port: Number(arg("remote")),
  });
  await wait(port); // binding leaves the new port pending once
  hc.eventChannelOp.send({ port }); // hello: bound
  for (let i = 0; i < warm + n; i++) {
    await wait(port);
    hc.eventChannelOp.send({ port });
  }
  poweroff();
} else {
  const port = Number(arg("port"));
  await wait(port); // b's hello
  const rtt: number[] = [];
  for (let i = 0; i < warm + n; i++) {
    const t0 = performance.now();
    hc.eventChannelOp.send({ port });
    await wait(port);
    if (i >= warm) rtt.push((performance.now() - t0) * 1000);
  }
  const s = rtt.sort((x, y) => x - y);
  report({ median: s[Math.floor(s.length / 2)], p99: s[Math.floor(s.length * 0.99)] });
  poweroff();
}
