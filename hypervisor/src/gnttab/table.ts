/**
 * One domain's grant table as the hypervisor sees it: the shared v1 entries in the table frames
 * (written by the granting guest at any moment) and the hypervisor-private pin counts per ref.
 * Rule: the guest owns flags/domid/frame except GTF_reading/GTF_writing, which only pin()/unpin()
 * change — with an atomic compare-and-swap on the 32-bit word {flags, domid}, so that the checks
 * "permit_access, granted to this domain, writable" and the setting of the bits happen as one step.
 */
import {
  ENTRIES_PER_FRAME,
  GNTST_general_error,
  GNTST_okay,
  GNTST_permission_denied,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_type_mask,
  GTF_writing,
} from "./consts.ts";
import type { Frame } from "./host.ts";

/** How many times pin() retries a compare-and-swap the guest keeps winning (Xen gives up too). */
const PIN_RETRIES = 16;

/** Pins on one ref (Xen's active grant entry): reference counts, as XSA-224/230 taught. */
export interface Active {
  readers: number;
  writers: number;
  /** The granted frame, fixed at the first pin while any pin remains. */
  frame: Frame;
}

/** The grant table of one domain. */
export class GrantTable {
  readonly frames: Frame[] = [];
  private readonly words: Int32Array[] = [];
  readonly active = new Map<number, Active>();

  /** Number of entries the table holds now. */
  get nrEntries(): number {
    return this.frames.length * ENTRIES_PER_FRAME;
  }

  /** Adds a (zeroed) table frame. */
  addFrame(frame: Frame): void {
    this.frames.push(frame);
    this.words.push(new Int32Array(frame.buffer, 0, 1024));
  }

  private slot(ref: number): [Int32Array, number] {
    return [this.words[Math.floor(ref / ENTRIES_PER_FRAME)], (ref % ENTRIES_PER_FRAME) * 2];
  }

  /** The entry's flags (u16). `ref` must be < nrEntries. */
  flags(ref: number): number {
    const [w, i] = this.slot(ref);
    return Atomics.load(w, i) & 0xffff;
  }

  /** The entry's frame field (a gfn of this domain). */
  gfn(ref: number): number {
    const [w, i] = this.slot(ref);
    return Atomics.load(w, i + 1) >>> 0;
  }

  /** Writes a whole entry: frame first, then {flags, domid}, so a reader never sees a half grant. */
  write(ref: number, flags: number, domid: number, gfn: number): void {
    const [w, i] = this.slot(ref);
    Atomics.store(w, i + 1, gfn | 0);
    Atomics.store(w, i, (flags & 0xffff) | ((domid & 0xffff) << 16));
  }

  /**
   * Checks entry `ref` grants `mapper` access (writable unless `readonly`) and sets GTF_reading, plus
   * GTF_writing for a writable pin, in one compare-and-swap. Returns GNTST_okay or a GNTST_* error
   * (the entry is then unchanged). The caller counts the pin in `active`.
   */
  setStatus(ref: number, mapper: number, readonly: boolean): number {
    const [w, i] = this.slot(ref);
    const bits = GTF_reading | (readonly ? 0 : GTF_writing);
    for (let tries = 0; tries < PIN_RETRIES; tries++) {
      const old = Atomics.load(w, i);
      const flags = old & 0xffff;
      if ((flags & GTF_type_mask) !== GTF_permit_access || old >>> 16 !== mapper) return GNTST_general_error;
      if (!readonly && (flags & GTF_readonly) !== 0) return GNTST_permission_denied;
      const next = old | bits;
      if (next === old || Atomics.compareExchange(w, i, old, next) === old) return GNTST_okay;
      // The guest changed the entry between our load and our swap: look at it again.
    }
    return GNTST_general_error; // "shared grant entry is unstable"
  }

  /** Clears GTF_* `bits` atomically (only the hypervisor ever clears reading/writing). */
  clearStatus(ref: number, bits: number): void {
    const [w, i] = this.slot(ref);
    Atomics.and(w, i, ~bits);
  }
}
