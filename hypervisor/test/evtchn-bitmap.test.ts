// The 2-level bitmaps land exactly where Xen's x86_64 layout puts them: evtchn_pending[port/64] bit
// port%64 at shared_info+2048, evtchn_mask at +2560, vcpu_info[v] at v*64 with upcall_pending @0 and
// evtchn_pending_sel @8 bit port/64 — and nothing else in the page changes.
import { describe, expect, it } from "vitest";
import { SharedInfoBits } from "../src/evtchn/bitmap.ts";
import { EventChannels } from "../src/evtchn/evtchn.ts";
import { FakeEvtchnHost } from "../src/evtchn/fake_host.ts";

/** The byte offsets that differ between two copies of a page. */
function changed(before: Uint8Array, after: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) out.push(i);
  return out;
}

describe("2-level layout", () => {
  for (const [port, vcpu] of [
    [1, 0],
    [63, 0],
    [64, 1],
    [130, 3],
    [4095, 31],
  ] as const) {
    it(`port ${port} on vcpu ${vcpu}`, () => {
      const page = new DataView(new SharedArrayBuffer(4096));
      const bytes = new Uint8Array(page.buffer);
      const bits = new SharedInfoBits(page);
      const before = bytes.slice();
      expect(bits.testAndSetPending(port)).toBe(true);
      expect(bits.testAndSetPending(port)).toBe(false);
      expect(bits.raise(port, vcpu)).toBe(true);
      expect(bits.raise(port, vcpu)).toBe(false); // selector already set: no second upcall
      const word = Math.floor(port / 64);
      const pendingByte = 2048 + word * 8 + Math.floor((port % 64) / 8);
      const selByte = vcpu * 64 + 8 + Math.floor(word / 8);
      const upcallByte = vcpu * 64;
      expect(changed(before, bytes).sort((a, b) => a - b)).toEqual(
        [pendingByte, selByte, upcallByte].sort((a, b) => a - b),
      );
      expect(page.getBigUint64(2048 + word * 8, true)).toBe(1n << BigInt(port % 64));
      expect(page.getBigUint64(vcpu * 64 + 8, true)).toBe(1n << BigInt(word));
      expect(page.getUint8(upcallByte)).toBe(1);
      expect(bits.isPending(port)).toBe(true);
      bits.clearPending(port);
      expect(page.getBigUint64(2048 + word * 8, true)).toBe(0n);
    });
  }

  it("reads the mask where the guest writes it", () => {
    const page = new DataView(new SharedArrayBuffer(4096));
    const bits = new SharedInfoBits(page);
    page.setBigUint64(2560 + 2 * 8, 1n << 5n, true); // guest masks port 133
    expect(bits.isMasked(133)).toBe(true);
    expect(bits.isMasked(132)).toBe(false);
    expect(bits.testAndClearMask(133)).toBe(true);
    expect(bits.testAndClearMask(133)).toBe(false);
    expect(page.getBigUint64(2560 + 2 * 8, true)).toBe(0n);
  });

  it("refuses a page that is not a whole aligned frame", () => {
    expect(() => new SharedInfoBits(new DataView(new SharedArrayBuffer(4096), 4))).toThrow(RangeError);
    expect(() => new SharedInfoBits(new DataView(new SharedArrayBuffer(2048)))).toThrow(RangeError);
  });

  it("keeps the guest's bits in the same words while the hypervisor sets its own", () => {
    // A guest bit set in the same word (another port) must survive our atomic or/and.
    const host = new FakeEvtchnHost();
    const page = host.addDomain(1, 1);
    host.addDomain(2, 1);
    const ev = new EventChannels(host);
    const p = ev.bindIpi(1, 0);
    page.setBigUint64(2048, 1n << 40n, true); // port 40 already pending, set by an earlier event
    ev.send(1, p);
    expect(page.getBigUint64(2048, true)).toBe((1n << 40n) | (1n << BigInt(p)));
  });
});
