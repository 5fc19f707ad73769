// The mail ring (realm/mail-ring.ts): how the hypervisor hands a running domain frames, entry by
// entry, through the vCPU's page. Its prod and cons count on for as long as the domain lives.
import { describe, expect, it } from "vitest";
import { MailKind, MailReader, MailWriter, type MailEntry } from "../src/realm/mail-ring.ts";
import { MAIL_ENTRIES, MAIL_HEAD_OFFSET, MAIL_WRAP } from "../src/realm/vcpu-page.ts";

const entry = (n: number): MailEntry => ({ kind: MailKind.frames, mfn: 1000 + n, key: n });

/** A vCPU page whose ring has already carried `count` entries (prod and cons both there). */
function pageAfter(count: number): SharedArrayBuffer {
  const page = new SharedArrayBuffer(4096);
  new Uint32Array(page, MAIL_HEAD_OFFSET, 2).set([count, count]);
  return page;
}

describe("the mail ring", () => {
  it("hands entries over in order, and says when it is full", () => {
    const page = pageAfter(0);
    const w = new MailWriter(page);
    const r = new MailReader(page);
    const all = Array.from({ length: MAIL_ENTRIES }, (_, i) => entry(i));
    expect(w.room).toBe(MAIL_ENTRIES);
    expect(w.put(all)).toBe(true);
    expect(w.room).toBe(0);
    expect(w.put([entry(0)])).toBe(false); // nothing written when it does not all fit
    expect(r.take()).toEqual(all);
    expect(w.room).toBe(MAIL_ENTRIES);
  });

  it("carries on unbroken where its counters wrap", () => {
    // Entries just before and after the wrap: each lands in the slot after the last one's, so a
    // full ring's worth written across the wrap reads back whole, and none overwrites an unread one.
    const page = pageAfter(MAIL_WRAP - 3);
    const w = new MailWriter(page);
    const r = new MailReader(page);
    const first = Array.from({ length: MAIL_ENTRIES }, (_, i) => entry(i));
    expect(w.put(first)).toBe(true);
    expect(w.room).toBe(0);
    expect(r.take()).toEqual(first);
    const head = new Uint32Array(page, MAIL_HEAD_OFFSET, 2);
    expect(head[0]).toBe(MAIL_ENTRIES - 3);
    expect(head[1]).toBe(MAIL_ENTRIES - 3);
    const second = [entry(7), entry(8)];
    expect(w.put(second)).toBe(true);
    expect(r.take()).toEqual(second);
  });

  it("treats a cons it cannot account for as a full ring (the domain's side wrote it)", () => {
    const page = pageAfter(5);
    const w = new MailWriter(page);
    for (const cons of [6, 5 + MAIL_ENTRIES + 1, 0xffffffff, MAIL_WRAP + 5]) {
      new Uint32Array(page, MAIL_HEAD_OFFSET, 2)[1] = cons;
      expect(w.room).toBe(0);
      expect(w.put([entry(1)])).toBe(false);
    }
  });
});
