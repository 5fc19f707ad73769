/**
 * A raw guest that blocks its vCPU (SCHEDOP_block, left pending) and then spins on its own event
 * loop. Its register block says "blocked"; its worker burns a core. Only the hypervisor's look at
 * the worker's real activity can see it.
 */
import { hc, report } from "../../guests/raw.ts";

report({ phase: "spinning" }); // before blocking: any other hypercall would end the block
void hc.schedOp.block();
for (;;) await new Promise<void>((r) => setImmediate(r));
