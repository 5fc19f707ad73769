/**
 * The console daemon against a real xencons_interface page (SharedArrayBuffer), with the guest side
 * played by the kernel's own ByteRing: output drains to history and clients across wrap-around, input
 * reaches the guest, and a corrupted ring is ignored rather than trusted.
 */
import { describe, expect, it } from "vitest";
import { XENCONS_IN_SIZE, XENCONS_OUT_SIZE, XenconsInterface } from "@pvkit/abi/layout";
import { ByteRing } from "../src/kernel/bytering.ts";
import { Consoled, HISTORY_BYTES } from "../src/dom0/consoled/consoled.ts";

const off = XenconsInterface.offsets;
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function guestPage() {
  const page = new DataView(new SharedArrayBuffer(4096));
  const guestOut = new ByteRing(page, {
    data: off.out,
    size: XENCONS_OUT_SIZE,
    cons: off.out_cons,
    prod: off.out_prod,
  });
  const guestIn = new ByteRing(page, {
    data: off.in,
    size: XENCONS_IN_SIZE,
    cons: off.in_cons,
    prod: off.in_prod,
  });
  return { page, guestOut, guestIn };
}

describe("Consoled", () => {
  it("drains guest output to attached clients and keeps history for late attachers", () => {
    const c = new Consoled();
    const g = guestPage();
    let kicks = 0;
    c.attach(7, g.page, () => kicks++);
    g.guestOut.write(enc("boot banner\n"));
    c.onEvent(7);
    expect(kicks).toBe(1);
    const seen: string[] = [];
    const session = c.connect(7, { write: (b) => seen.push(dec(b)) })!;
    expect(seen).toEqual(["boot banner\n"]);
    g.guestOut.write(enc("$ "));
    c.onEvent(7);
    expect(seen.join("")).toBe("boot banner\n$ ");
    session.input(enc("ls /\r"));
    expect(dec(g.guestIn.read())).toBe("ls /\r");
    session.detach();
    g.guestOut.write(enc("more"));
    c.onEvent(7);
    expect(seen.join("")).toBe("boot banner\n$ ");
  });

  it("follows the ring across many wrap-arounds and bounds its history", () => {
    const c = new Consoled();
    const g = guestPage();
    c.attach(1, g.page, () => {});
    let total = "";
    for (let i = 0; i < 200; i++) {
      const line = `line ${i} ${"x".repeat(500)}\n`;
      total += line;
      expect(g.guestOut.write(enc(line))).toBe(line.length);
      c.onEvent(1);
    }
    const h = dec(c.history(1));
    expect(h.length).toBeLessThanOrEqual(HISTORY_BYTES);
    expect(total.endsWith(h)).toBe(true);
  });

  it("holds input the guest has no room for until it consumes", () => {
    const c = new Consoled();
    const g = guestPage();
    c.attach(2, g.page, () => {});
    const s = c.connect(2, { write: () => {} })!;
    s.input(new Uint8Array(XENCONS_IN_SIZE + 100).fill(0x61));
    expect(g.guestIn.read().length).toBe(XENCONS_IN_SIZE);
    c.onEvent(2);
    expect(g.guestIn.read().length).toBe(100);
  });

  it("ignores a ring whose indices a hostile guest corrupted", () => {
    const c = new Consoled();
    const g = guestPage();
    c.attach(3, g.page, () => {});
    g.page.setUint32(off.out_prod, 0x7fffffff, true);
    c.onEvent(3);
    expect(c.history(3).length).toBe(0);
  });
});
