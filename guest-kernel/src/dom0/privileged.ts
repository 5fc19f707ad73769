/**
 * What dom0's kernel lends its services: the full hypercall SDK, the kernel (events, page
 * allocator) and guest memory with its foreign-mapping window. Set by the arch entry of the
 * privileged domain only; any other domain asking gets an error, not a capability.
 */
import type { Hypercalls } from "@pvkit/abi/guest";
import type { Kernel } from "../kernel/kernel.ts";
import type { PhysMemory } from "../arch/memory.ts";

export interface Privileged {
  hc: Hypercalls;
  kernel: Kernel;
  memory: PhysMemory;
}

let lent: Privileged | undefined;

export function lendPrivileged(p: Privileged): void {
  lent = p;
}

export function privileged(): Privileged {
  if (!lent) throw new Error("dom0 services need the privileged domain's kernel");
  return lent;
}
