/**
 * The granting guest's side of a v1 grant entry, as the tests play it: grant (frame, then flags with
 * a release store) and end-access (a compare-and-swap that refuses while GTF_reading|GTF_writing are
 * set). This is the protocol docs/grant-tables.md describes for the guest kernel's grant client;
 * like Linux and pvkit's guest kernel it works on the 16-bit flags alone, while the hypervisor swaps
 * the whole 32-bit {flags, domid} word, as Xen does.
 */
import { GTF_permit_access, GTF_reading, GTF_readonly, GTF_writing } from "../src/gnttab/consts.ts";
import type { Frame } from "../src/gnttab/host.ts";

/** The guest's view of its grant-table frames. */
export class GuestGrants {
  constructor(private readonly frames: readonly Frame[]) {}

  private slot(ref: number): [Int32Array, Uint16Array, number] {
    const buf = this.frames[Math.floor(ref / 512)].buffer;
    return [new Int32Array(buf), new Uint16Array(buf), (ref % 512) * 2];
  }

  /** Grants `gfn` to `domid`: domid and frame are written before the flags make the entry live. */
  grant(ref: number, domid: number, gfn: number, readonly = false): void {
    const [w, h, i] = this.slot(ref);
    Atomics.store(w, i + 1, gfn);
    Atomics.store(h, i * 2 + 1, domid);
    Atomics.store(h, i * 2, GTF_permit_access | (readonly ? GTF_readonly : 0));
  }

  /** gnttab_end_foreign_access_ref: false (entry untouched) while the grant is in use. */
  endAccess(ref: number): boolean {
    const [, h, i] = this.slot(ref);
    for (;;) {
      const old = Atomics.load(h, i * 2);
      if ((old & (GTF_reading | GTF_writing)) !== 0) return false;
      if (Atomics.compareExchange(h, i * 2, old, 0) === old) return true;
    }
  }

  /** The entry's flags as the guest reads them. */
  flags(ref: number): number {
    const [, h, i] = this.slot(ref);
    return Atomics.load(h, i * 2);
  }

  /** Overwrites the flags word directly (a misbehaving or racing guest). */
  rawWord(ref: number, word: number): void {
    const [w, , i] = this.slot(ref);
    Atomics.store(w, i, word);
  }
}
