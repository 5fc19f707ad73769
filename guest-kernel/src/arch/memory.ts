/**
 * Guest memory, guest side: the domain's pages by pfn, frames the hypervisor handed over later
 * (populate_physmap, grant-table frames, foreign grant mappings), and reads/writes by guest address.
 * Addresses at FOREIGN_BASE and above are the window where granted frames of other domains appear;
 * everything else is pfn * 4096 + offset. A read-only grant mapping is a private snapshot the
 * hypervisor copied at map time (docs/security.md): writes to it are refused here, and could not
 * reach the granter anyway.
 *
 * The domain's own memory arrives in runs (MemoryRun: one buffer over consecutive pages), at boot
 * and from populate_physmap. Boot keeps the runs as they come (a 64 MiB domain on free memory is
 * one) and a page's view is cut from its run the first time it is used — 4096 bytes at its offset,
 * never the whole buffer — so boot costs nothing per page; only pages populated or given back
 * later are recorded one by one. Code that takes a page's `.buffer` must honour
 * byteOffset/byteLength: the buffer is the run's.
 */
import type { GuestMemory } from "@pvkit/abi";
import type { MachineMail, MemoryRun } from "@pvkit/abi/machine";

export const PAGE_SIZE = 4096;
/** Where map_grant_ref's host_addr points: far above any pfn a domain can have. */
export const FOREIGN_BASE = 2 ** 40;

/** How many pages a run spans. */
const pagesOf = (run: MemoryRun) => Math.floor(run.buf.byteLength / PAGE_SIZE);

export class PhysMemory implements GuestMemory {
  /** The runs the domain booted with, in pfn order (never changed: see `since`). */
  private readonly bootRuns: readonly MemoryRun[];
  /** pfns populated (the run they are in now) or given back (null) since boot. */
  private readonly since = new Map<number, MemoryRun | null>();
  /**
   * Page views cut from runs so far, by pfn: grown as pages are first used, never made at full size
   * up front — a 16384-slot array (64 MiB) took ~0.6 ms of every boot here, new memory the kernel
   * faults in, for the few dozen pages a boot touches.
   */
  private readonly pages: (Uint8Array | undefined)[] = [];
  private readonly foreign = new Map<number, { bytes: Uint8Array; readonly: boolean }>();
  /** Hypervisor frames given by number (the grant table's). */
  private readonly machine = new Map<number, SharedArrayBuffer>();
  private nextForeign = FOREIGN_BASE;
  private readonly freeForeign: number[] = [];

  constructor(runs: readonly MemoryRun[]) {
    this.bootRuns = [...runs].sort((a, b) => a.pfn - b.pfn);
  }

  /** Takes what the hypervisor handed over (the machine's mail after a trap), oldest first. */
  deliver(mails: readonly MachineMail[]): void {
    for (const mail of mails) {
      switch (mail.t) {
        case "frames":
          for (const run of mail.runs)
            for (let k = 0, n = pagesOf(run); k < n; k++) this.moved(run.pfn + k, run);
          break;
        case "drop":
          for (const pfn of mail.pfns) this.moved(pfn, null);
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

  /** Page `pfn` is in `run` now, or (null) not populated: its old view, if any, is gone. */
  private moved(pfn: number, run: MemoryRun | null): void {
    this.since.set(pfn, run);
    if (pfn < this.pages.length) this.pages[pfn] = undefined;
  }

  /** The run page `pfn` is in, or undefined when it is not populated. */
  private runAt(pfn: number): MemoryRun | undefined {
    const now = this.since.get(pfn);
    if (now !== undefined) return now ?? undefined;
    // A boot run: binary search for the last run that starts at or before pfn.
    const runs = this.bootRuns;
    let lo = 0;
    let hi = runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = runs[mid]!;
      if (pfn < r.pfn) hi = mid - 1;
      else if (pfn >= r.pfn + pagesOf(r)) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /** The 4096 bytes of our page `pfn` (a view of its run's buffer), or undefined when not populated. */
  private pageBytes(pfn: number): Uint8Array | undefined {
    const pages = this.pages;
    // Never read past the array's end (a slow path in V8).
    const cut = pfn < pages.length ? pages[pfn] : undefined;
    if (cut) return cut;
    const run = this.runAt(pfn);
    if (!run) return undefined;
    const bytes = new Uint8Array(run.buf, (pfn - run.pfn) * PAGE_SIZE, PAGE_SIZE);
    // Grown without holes while pfns come near its end (the allocator hands out the lowest first);
    // a pfn far beyond is stored as it is, and the array may turn sparse: correct, only slower.
    if (pfn - pages.length < 1024) while (pages.length < pfn) pages.push(undefined);
    pages[pfn] = bytes;
    return bytes;
  }

  /** How many frames this worker holds (for isolation tests: never more than it was given). */
  heldFrames(): { own: number; foreign: number; machine: number } {
    let own = 0;
    for (const r of this.bootRuns)
      for (let pfn = r.pfn, end = r.pfn + pagesOf(r); pfn < end; pfn++) if (!this.since.has(pfn)) own++;
    for (const run of this.since.values()) if (run) own++;
    return { own, foreign: this.foreign.size, machine: this.machine.size };
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
    const bytes = this.pageBytes(pfn);
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

  /** A live view of one of our pages (rings, shared buffers): 4096 bytes of its run's buffer. */
  page(pfn: number): DataView {
    const b = this.pageBytes(pfn);
    if (!b) throw new RangeError(`pfn ${pfn} is not populated`);
    return new DataView(b.buffer, b.byteOffset, PAGE_SIZE);
  }

  /**
   * One live view over `pages` of our pages from `pfn` on, or undefined unless all of them are
   * populated and lie in one run (one buffer): what a driver needs to hand a program a buffer whose
   * pages are each its own granted page (blkfront's shared buffers).
   */
  span(pfn: number, pages: number): Uint8Array | undefined {
    const run = this.runAt(pfn);
    if (!run || pfn + pages > run.pfn + pagesOf(run)) return undefined;
    for (let k = 1; k < pages; k++) if (this.runAt(pfn + k) !== run) return undefined;
    return new Uint8Array(run.buf, (pfn - run.pfn) * PAGE_SIZE, pages * PAGE_SIZE);
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
      return new DataView(f.bytes.buffer, f.bytes.byteOffset, PAGE_SIZE);
    },
    release: (hostAddr: bigint): void => void this.freeForeign.push(Number(hostAddr)),
  };
}
