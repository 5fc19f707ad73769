/**
 * The SDK's HypercallTransport over the machine's trap instruction: the generated stubs marshal
 * struct arguments into the scratch page and call trap(); after every trap the frames the hypervisor
 * handed over (populate_physmap, grant maps) are taken into guest memory, so they are usable as soon
 * as the hypercall returns — as in Xen, where the P2M is updated before the guest resumes.
 *
 * A notify (EVTCHNOP_send) is posted instead, where the machine can (PvkitMachine.post): its caller
 * goes on at once and the vCPU's next trap collects the answer. Its evtchn_send struct lives in one
 * of two slots past the SDK's part of the scratch page, used in turn: a slot is written again two
 * notifies later, and the notify between them, before it was stored, collected the answer of the
 * one that used the slot — so the hypervisor never reads a slot the guest is rewriting.
 */
import type { HypercallTransport } from "@pvkit/abi";
import { __HYPERVISOR_event_channel_op, EVTCHNOP_send } from "@pvkit/abi/layout";
import { type PvkitMachine, SCRATCH_POSTED_BYTES } from "@pvkit/abi/machine";
import { PAGE_SIZE, type PhysMemory } from "./memory.ts";

const SEND = BigInt(EVTCHNOP_send);

export class MachineTransport implements HypercallTransport {
  /** Posted notifies so far: the low bit picks the slot. */
  private posts = 0;
  /** The two slots (8 bytes each, in the SCRATCH_POSTED_BYTES after `scratch`): address, register. */
  private readonly slots: readonly { addr: number; reg: bigint }[];

  constructor(
    private readonly machine: PvkitMachine,
    readonly memory: PhysMemory,
    /** The SDK's part of the scratch page; the SCRATCH_POSTED_BYTES after it are the notifies'. */
    readonly scratch: { addr: number; size: number },
  ) {
    const first = scratch.addr + scratch.size;
    this.slots = [first, first + SCRATCH_POSTED_BYTES / 2].map((addr) => ({ addr, reg: BigInt(addr) }));
  }

  /** Whether notify() posts (the machine can) rather than waits. */
  get canPost(): boolean {
    return this.machine.post !== undefined;
  }

  /** EVTCHNOP_send to `port`, posted: errors are not reported (XenOps.evtchnNotify). */
  notify(port: number): void {
    const slot = this.slots[this.posts++ & 1]!;
    this.memory.page(Math.floor(slot.addr / PAGE_SIZE)).setUint32(slot.addr % PAGE_SIZE, port, true);
    this.machine.post!(__HYPERVISOR_event_channel_op, SEND, slot.reg, 0n, 0n, 0n);
  }

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
