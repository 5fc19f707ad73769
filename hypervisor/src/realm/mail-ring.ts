/**
 * The mail ring: how the hypervisor hands a running domain frames after boot (populate_physmap,
 * decrease_reservation, grant-table frames, grant maps and unmaps) — by frame number, in the vCPU's
 * page, written before the hypercall that asked for them returns. The supervisor reads it when the
 * trap returns and turns each frame number into a view of that frame alone, so the frames are usable
 * as soon as the hypercall returns, as in Xen, and nothing has to cross between threads or processes
 * but the page itself.
 *
 * Rule: one producer (the hypervisor, on its thread) and one consumer (the domain's supervisor). The
 * producer never overwrites an entry the consumer has not read: a hypercall that would overflow the
 * ring does less (populate_physmap comes up short, a map is GNTST_no_space), as Xen lets it.
 */
import { MAIL_ENTRIES, MAIL_ENTRY_BYTES, MAIL_HEAD_OFFSET, MAIL_OFFSET, MAIL_WRAP } from "./vcpu-page.ts";

/** What an entry hands over; `key` is a pfn, a guest address or a grant-table frame number. */
export const MailKind = {
  frames: 1,
  drop: 2,
  gnttab: 3,
  map: 4,
  mapReadonly: 5,
  unmap: 6,
} as const;
export type MailKind = (typeof MailKind)[keyof typeof MailKind];

export interface MailEntry {
  kind: MailKind;
  /** The frame handed over (0 for drop/unmap). */
  mfn: number;
  key: number;
}

function views(page: SharedArrayBuffer) {
  return {
    head: new Uint32Array(page, MAIL_HEAD_OFFSET, 2), // [prod, cons], free-running to MAIL_WRAP
    entries: new DataView(page, MAIL_OFFSET, MAIL_ENTRIES * MAIL_ENTRY_BYTES),
  };
}

/** The hypervisor's end. */
export class MailWriter {
  private readonly v: ReturnType<typeof views>;
  constructor(page: SharedArrayBuffer) {
    this.v = views(page);
  }

  /** Entries that fit now. */
  get room(): number {
    const prod = Atomics.load(this.v.head, 0);
    const cons = Atomics.load(this.v.head, 1);
    // A counter past the wrap, or more used than the ring holds, is corrupt (the page is the
    // domain's worker's too): treat the ring as full.
    if (prod >= MAIL_WRAP || cons >= MAIL_WRAP) return 0;
    const used = (prod - cons + MAIL_WRAP) % MAIL_WRAP;
    return used > MAIL_ENTRIES ? 0 : MAIL_ENTRIES - used;
  }

  /** Writes `entries` (all of them, or none: false when they do not fit) and publishes them. */
  put(entries: readonly MailEntry[]): boolean {
    if (entries.length > this.room) return false;
    let prod = Atomics.load(this.v.head, 0);
    for (const e of entries) {
      const at = (prod % MAIL_ENTRIES) * MAIL_ENTRY_BYTES;
      this.v.entries.setUint32(at, e.kind, true);
      this.v.entries.setUint32(at + 4, e.mfn, true);
      this.v.entries.setFloat64(at + 8, e.key, true);
      prod = (prod + 1) % MAIL_WRAP;
    }
    Atomics.store(this.v.head, 0, prod);
    return true;
  }
}

/** The supervisor's end. */
export class MailReader {
  private readonly v: ReturnType<typeof views>;
  constructor(page: SharedArrayBuffer) {
    this.v = views(page);
  }

  /** Every entry published since the last call, oldest first. */
  take(): MailEntry[] {
    const out: MailEntry[] = [];
    const prod = Atomics.load(this.v.head, 0);
    let cons = Atomics.load(this.v.head, 1);
    for (let n = 0; cons !== prod && n < MAIL_ENTRIES; n++) {
      const at = (cons % MAIL_ENTRIES) * MAIL_ENTRY_BYTES;
      out.push({
        kind: this.v.entries.getUint32(at, true) as MailKind,
        mfn: this.v.entries.getUint32(at + 4, true),
        key: this.v.entries.getFloat64(at + 8, true),
      });
      cons = (cons + 1) % MAIL_WRAP;
    }
    Atomics.store(this.v.head, 1, cons);
    return out;
  }
}
