/**
 * DomainContext: what every hypercall handler is given — who is calling (domain, vCPU, privilege),
 * the hypervisor's subsystems, and copy_from_guest/copy_to_guest through the caller's own P2M. A
 * pointer outside the caller's populated memory is a GuestFault (-EFAULT), never another domain's data.
 */
import { GuestFault, type HypercallContext } from "@pvkit/abi";
import type { Domain } from "../domain/domain.ts";
import type { Vcpu } from "../domain/vcpu.ts";
import type { EventChannels } from "../evtchn/evtchn.ts";
import type { GrantTables } from "../gnttab/gnttab.ts";
import type { Hypervisor } from "../hypervisor.ts";
import { PAGE_SIZE } from "../memory/frames.ts";

export class DomainContext implements HypercallContext {
  readonly domid: number;
  readonly privileged: boolean;
  readonly evtchn: EventChannels;
  readonly gnttab: GrantTables;

  constructor(
    readonly hv: Hypervisor,
    readonly domain: Domain,
    readonly vcpu: Vcpu,
  ) {
    this.domid = domain.domid;
    this.privileged = domain.privileged;
    this.evtchn = hv.evtchn;
    this.gnttab = hv.gnttab;
  }

  /** Calls `fn` for each page-sized piece of [addr, addr+len) with the frame bytes it covers. */
  private pieces(
    addr: bigint,
    len: number,
    fn: (frame: Uint8Array, at: number, n: number, done: number) => void,
  ) {
    if (addr < 0n || len < 0 || addr + BigInt(len) > BigInt(Number.MAX_SAFE_INTEGER))
      throw new GuestFault(addr, len);
    let a = Number(addr);
    let done = 0;
    while (done < len) {
      const pfn = Math.floor(a / PAGE_SIZE);
      const off = a % PAGE_SIZE;
      const frame = this.domain.p2m.get(pfn);
      if (!frame) throw new GuestFault(addr, len);
      const n = Math.min(len - done, PAGE_SIZE - off);
      fn(new Uint8Array(frame.buffer), off, n, done);
      done += n;
      a += n;
    }
  }

  copyFromGuest(addr: bigint, len: number): DataView {
    const out = new Uint8Array(len);
    this.pieces(addr, len, (f, at, n, done) => out.set(f.subarray(at, at + n), done));
    return new DataView(out.buffer);
  }

  copyToGuest(addr: bigint, bytes: Uint8Array): void {
    // Check the whole range first: a fault must not leave a half-written struct behind.
    this.pieces(addr, bytes.length, () => {});
    this.pieces(addr, bytes.length, (f, at, n, done) => f.set(bytes.subarray(done, done + n), at));
  }

  /** The domain a sub-op names: DOMID_SELF means the caller; another domain needs privilege. */
  target(domid: number): Domain | number {
    return this.hv.targetDomain(this, domid);
  }
}
