/**
 * A raw guest that polls a port with a timeout and is destroyed before the timeout
 * (poll-timeout.test.ts): it waits for the test's VIRQ_DEBUG, reads the deadline the test wrote at
 * page 7 (host system time, ns, so that boot time cannot eat into it), then polls with it.
 */
import { VIRQ_DEBUG } from "@pvkit/abi/layout";
import { PAGE, hc, memory, report, waitPort } from "../../guests/raw.ts";

const port = hc.eventChannelOp.bindVirq({ virq: VIRQ_DEBUG, vcpu: 0 }).port;
report({ phase: "ready" });
await waitPort(port);
const deadline = new DataView(memory.read(7 * PAGE, 8).buffer).getBigUint64(0, true);
memory.write(6 * PAGE, new Uint8Array(new Uint32Array([port]).buffer));
report({ phase: "polling" });
await hc.schedOp.poll({ ports: BigInt(6 * PAGE), nr_ports: 1, timeout: deadline });
report({ phase: "timed out" });
