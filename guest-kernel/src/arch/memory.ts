/**
 * Guest memory, guest side: the domain's frames by pfn (each a 4 KiB SharedArrayBuffer), frames the
 * hypervisor handed over later (populate_physmap, grant-table frames, foreign grant mappings), and
 * reads/writes by guest address. Addresses at FOREIGN_BASE and above are the window where granted
 * frames of other domains appear; everything else is pfn * 4096 + offset. A read-only grant mapping
 * is a private snapshot the hypervisor copied at map time (docs/security.md): writes to it are
 * refused here, and could not reach the granter anyway.
 */
import type { GuestMemory } from "@pvkit/abi";
import type { MachineMail } from "@pvkit/abi/machine";

export const PAGE_SIZE = 4096;
/** Where map_grant_ref's host_addr points: far above any pfn a domain can have. */
export const FOREIGN_BASE = 2 ** 40;

export class PhysMemory implements GuestMemory {
  private readonly frames: (Uint8Array | undefined)[] = [];
  private readonly foreign = new Map<number, { bytes: Uint8Array; readonly: boolean }>();
  /** Hypervisor frames given by number (the grant table's). */
  private readonly machine = new Map<number, SharedArrayBuffer>();
  private nextForeign = FOREIGN_BASE;
  private readonly freeForeign: number[] = [];

  constructor(frames: readonly (SharedArrayBuffer | null)[]) {
    frames.forEach((f, pfn) => {
      if (f) this.frames[pfn] = new Uint8Array(f);
    });
  }

  /** Takes what the hypervisor handed over (the machine's mail after a trap), oldest first. */
  deliver(mails: readonly MachineMail[]): void {
    for (const mail of mails) {
      switch (mail.t) {
        case "frames":
          mail.pfns.forEach((pfn, i) => (this.frames[pfn] = new Uint8Array(mail.bufs[i]!)));
          break;
        case "drop":
          for (const pfn of mail.pfns) this.frames[pfn] = undefined;
          break;
        case "gnttab":
          mail.mfns.forEach((mfn, i) => this.machine.set(mfn, mail.bufs[i]!));
          break;
        case "map":
          this.foreign.set(mail.addr, { bytes: new Uint8Array(mail.buf), readonly: mail.readonly });
          break;
        case "unmap":
          this.foreign.delete(mail.addr);
          break;
      }
    }
  }

  /** How many frames this worker holds (for isolation tests: never more than it was given). */
  heldFrames(): { own: number; foreign: number; machine: number } {
    return {
      own: this.frames.filter(Boolean).length,
      foreign: this.foreign.size,
      machine: this.machine.size,
    };
  }

  private bytesAt(addr: number, forWrite: boolean): { bytes: Uint8Array; off: number } {
    if (addr >= FOREIGN_BASE) {
      const base = addr - (addr % PAGE_SIZE);
      const f = this.foreign.get(base);
      if (!f) throw new RangeError(`no grant mapped at 0x${base.toString(16)}`);
      if (forWrite && f.readonly) throw new RangeError(`grant at 0x${base.toString(16)} is mapped read-only`);
      return { bytes: f.bytes, off: addr - base };
    }
    const pfn = Math.floor(addr / PAGE_SIZE);
    const bytes = this.frames[pfn];
    if (!bytes) throw new RangeError(`guest address 0x${addr.toString(16)} is not populated (pfn ${pfn})`);
    return { bytes, off: addr % PAGE_SIZE };
  }

  read(addr: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    for (let done = 0; done < len;) {
      const { bytes, off } = this.bytesAt(addr + done, false);
      const n = Math.min(len - done, PAGE_SIZE - off);
      out.set(bytes.subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  write(addr: number, data: Uint8Array): void {
    for (let done = 0; done < data.length;) {
      const { bytes, off } = this.bytesAt(addr + done, true);
      const n = Math.min(data.length - done, PAGE_SIZE - off);
      bytes.set(data.subarray(done, done + n), off);
      done += n;
    }
  }

  /** A live view of one of our pages (rings, shared buffers). */
  page(pfn: number): DataView {
    const b = this.frames[pfn];
    if (!b) throw new RangeError(`pfn ${pfn} is not populated`);
    return new DataView(b.buffer);
  }

  /** Live views of hypervisor frames given by mfn (grant-table frames after setup_table). */
  mapFrames(mfns: number[]): DataView[] {
    return mfns.map((mfn) => {
      const b = this.machine.get(mfn);
      if (!b) throw new RangeError(`frame ${mfn} was not given to this domain`);
      return new DataView(b);
    });
  }

  /** The foreign-mapping window (dom0's toolstack maps guest rings here). */
  readonly window = {
    reserve: (): bigint => BigInt(this.freeForeign.pop() ?? (this.nextForeign += PAGE_SIZE) - PAGE_SIZE),
    view: (hostAddr: bigint): DataView => {
      const f = this.foreign.get(Number(hostAddr));
      if (!f) throw new RangeError(`no grant mapped at 0x${hostAddr.toString(16)}`);
      return new DataView(f.bytes.buffer);
    },
    release: (hostAddr: bigint): void => void this.freeForeign.push(Number(hostAddr)),
  };
}
