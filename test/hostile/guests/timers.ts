/**
 * A raw guest that asks the hypervisor to wait as long as a 64-bit value says: a one-shot timer at
 * the end of time, a periodic timer of 2^62 ns, a watchdog of 2^32-1 seconds, and a poll with a
 * timeout at the end of time. None of these may fire early, warn on the host, or kill the guest;
 * the poll ends when the test raises VIRQ_DEBUG.
 */
import { VIRQ_DEBUG } from "@pvkit/abi/layout";
import { PAGE, hc, memory, poweroff, report } from "../../guests/raw.ts";

const FAR = (1n << 63n) - 1n;
hc.setTimerOp(FAR);
hc.vcpuOp.setPeriodicTimer(0, { period_ns: 1n << 62n });
const dog = hc.schedOp.watchdog({ id: 0, timeout: 0xffffffff });
const port = hc.eventChannelOp.bindVirq({ virq: VIRQ_DEBUG, vcpu: 0 }).port;
memory.write(6 * PAGE, new Uint8Array(new Uint32Array([port]).buffer));
report({ phase: "polling", dog });
await hc.schedOp.poll({ ports: BigInt(6 * PAGE), nr_ports: 1, timeout: FAR });
report({ phase: "woke" });
poweroff();
