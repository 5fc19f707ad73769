/**
 * The SDK's HypercallTransport over the machine's trap instruction: the generated stubs marshal
 * struct arguments into the scratch page and call trap(); after every trap the frames the hypervisor
 * handed over (populate_physmap, grant maps) are taken into guest memory, so they are usable as soon
 * as the hypercall returns — as in Xen, where the P2M is updated before the guest resumes.
 */
import type { HypercallTransport } from "@pvkit/abi";
import type { PvkitMachine } from "@pvkit/abi/machine";
import type { PhysMemory } from "./memory.ts";

export class MachineTransport implements HypercallTransport {
  constructor(
    private readonly machine: PvkitMachine,
    readonly memory: PhysMemory,
    readonly scratch: { addr: number; size: number },
  ) {}

  /** Takes what the hypervisor handed over during the trap that just returned `r`. */
  private taken<T>(r: T): T {
    const mail = this.machine.takeMail();
    if (mail.length > 0) this.memory.deliver(mail);
    return r;
  }

  // The five argument registers, missing ones zero, passed one by one: a spread of an array of them
  // made the array and walked it with the iterator protocol on every hypercall.
  trap(op: number, a: readonly bigint[]): bigint {
    return this.taken(this.machine.trap(op, a[0] ?? 0n, a[1] ?? 0n, a[2] ?? 0n, a[3] ?? 0n, a[4] ?? 0n));
  }

  async trapAsync(op: number, a: readonly bigint[]): Promise<bigint> {
    const r = await this.machine.trapAsync(op, a[0] ?? 0n, a[1] ?? 0n, a[2] ?? 0n, a[3] ?? 0n, a[4] ?? 0n);
    return this.taken(r);
  }
}
