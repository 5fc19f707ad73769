import { describe, expect, it } from "vitest";
import { Events, lowestBit } from "../src/kernel/events.ts";
import { FakeXen } from "./helpers/fake-xen.ts";

describe("event dispatch over the 2-level bitmaps", () => {
  it("delivers pending ports in order across words and clears their bits", () => {
    const xen = new FakeXen();
    const ev = new Events(xen.shared, xen);
    const seen: number[] = [];
    for (const p of [3, 64, 130, 4095]) ev.bind(p, (port) => seen.push(port));
    xen.raise(130);
    xen.raise(3);
    xen.raise(4095);
    xen.raise(64);
    expect(ev.hasPending()).toBe(true);
    expect(ev.dispatch()).toBe(4);
    expect(seen).toEqual([3, 64, 130, 4095]);
    expect(ev.hasPending()).toBe(false);
    expect(ev.dispatch()).toBe(0);
  });

  it("holds a masked port until unmask re-raises it", () => {
    const xen = new FakeXen();
    const ev = new Events(xen.shared, xen);
    const seen: number[] = [];
    ev.bind(9, (p) => seen.push(p));
    ev.mask(9);
    xen.raise(9);
    ev.dispatch();
    expect(seen).toEqual([]);
    ev.unmask(9);
    expect(ev.hasPending()).toBe(true);
    ev.dispatch();
    expect(seen).toEqual([9]);
  });

  it("unmasks in shared_info without a hypercall unless the port turned pending while masked", () => {
    const xen = new FakeXen();
    const ev = new Events(xen.shared, xen);
    const seen: number[] = [];
    ev.bind(9, (p) => seen.push(p));
    ev.bind(70, (p) => seen.push(p));
    expect(xen.unmasked).toEqual([]); // nothing was pending: two binds, no trap
    xen.raise(70);
    ev.dispatch();
    expect(seen).toEqual([70]); // the hypervisor's side sees the mask bit this side cleared
    ev.mask(9);
    ev.unmask(9);
    expect(xen.unmasked).toEqual([]);
    // Pending while masked: the upcall was withheld, so EVTCHNOP_unmask raises it.
    ev.mask(9);
    xen.raise(9);
    expect(ev.hasPending()).toBe(false);
    ev.unmask(9);
    expect(xen.unmasked).toEqual([9]);
    expect(ev.hasPending()).toBe(true);
    ev.dispatch();
    expect(seen).toEqual([70, 9]);
  });

  it("an event raised inside a handler is delivered on the next dispatch, not lost", () => {
    const xen = new FakeXen();
    const ev = new Events(xen.shared, xen);
    let n = 0;
    ev.bind(5, () => {
      if (n++ === 0) xen.raise(5);
    });
    xen.raise(5);
    ev.dispatch();
    expect(ev.hasPending()).toBe(true);
    ev.dispatch();
    expect(n).toBe(2);
  });

  it("a throwing handler does not stop the others; unbound ports are counted", () => {
    const xen = new FakeXen();
    const ev = new Events(xen.shared, xen);
    const errs: number[] = [];
    ev.onError = (p) => errs.push(p);
    const seen: number[] = [];
    ev.bind(1, () => {
      throw new Error("bad driver");
    });
    ev.bind(2, (p) => seen.push(p));
    ev.bind(7, () => undefined);
    ev.unbind(7);
    xen.raise(1);
    xen.raise(2);
    ev.dispatch();
    expect(errs).toEqual([1]);
    expect(seen).toEqual([2]);
    expect(xen.isMasked(7)).toBe(true);
    expect(() => ev.bind(0, () => undefined)).toThrow(RangeError);
    expect(() => ev.bind(4096, () => undefined)).toThrow(RangeError);
  });

  it("idle() blocks only when nothing is flagged; kick() wakes through an IPI to self", async () => {
    const xen = new FakeXen();
    const ev = new Events(xen.shared, xen);
    xen.onSend = (p) => xen.raise(p);
    await ev.idle();
    expect(xen.blocks).toBe(1);
    ev.kick();
    await ev.idle();
    expect(xen.blocks).toBe(1);
    expect(ev.dispatch()).toBe(1);
  });

  it("lowestBit finds bits in both halves", () => {
    expect(lowestBit(1n)).toBe(0);
    expect(lowestBit(1n << 31n)).toBe(31);
    expect(lowestBit(1n << 32n)).toBe(32);
    expect(lowestBit(1n << 63n)).toBe(63);
    expect(lowestBit(0b101000n)).toBe(3);
  });

  it("starts with every port masked: an unbound port raises no upcall until bound", () => {
    const xen = new FakeXen();
    const ev = new Events(xen.shared, xen);
    xen.raise(77);
    expect(ev.hasPending()).toBe(false);
    const seen: number[] = [];
    ev.bind(77, (p) => seen.push(p));
    expect(ev.hasPending()).toBe(true);
    ev.dispatch();
    expect(seen).toEqual([77]);
  });
});
