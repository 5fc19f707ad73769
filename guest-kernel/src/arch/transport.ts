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

  trap(op: number, args: readonly bigint[]): bigint {
    const r = this.machine.trap(
      op,
      args[0] ?? 0n,
      args[1] ?? 0n,
      args[2] ?? 0n,
      args[3] ?? 0n,
      args[4] ?? 0n,
    );
    this.memory.deliver(this.machine.takeMail());
    return r;
  }

  async trapAsync(op: number, args: readonly bigint[]): Promise<bigint> {
    const r = await this.machine.trapAsync(
      op,
      args[0] ?? 0n,
      args[1] ?? 0n,
      args[2] ?? 0n,
      args[3] ?? 0n,
      args[4] ?? 0n,
    );
    const mail = this.machine.takeMail();
    if (mail.length > 0) this.memory.deliver(mail);
    return r;
  }
}
