/**
 * IPv4 fragmentation and reassembly (src/net/stack/ipv4-fragment.ts, ipv4-reassembly.ts) on
 * datagrams built here byte by byte, cut by fragmentIpv4 or by hand, and parsed by parseIpv4 as the
 * stack would: whole datagrams come back byte-exact whatever the order and duplicates (a property
 * over random datagrams and permutations), while overlaps, disagreeing ends, malformed pieces,
 * oversize claims, teardrop and floods of first fragments are dropped and counted with memory,
 * datagram count and timers bounded. Time is a fake clock the test moves, and timers fire from it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checksum } from "../src/net/stack/checksum.ts";
import { fragmentIpv4 } from "../src/net/stack/ipv4-fragment.ts";
import {
  FRAGMENT_OVERHEAD,
  REASSEMBLY_LIMITS,
  Reassembly,
  type ReassemblyLimits,
} from "../src/net/stack/ipv4-reassembly.ts";
import { parseIpv4, type Ipv4Header } from "../src/net/stack/ipv4.ts";

const SRC = Uint8Array.of(10, 0, 0, 1);
const DST = Uint8Array.of(10, 0, 0, 2);
const UDP = 17;

/** The 20-byte header the test writes itself: flags word `frag` (MF 0x2000, offset in 8-byte units). */
function header(id: number, payloadLength: number, frag = 0, proto = UDP): Uint8Array {
  const h = new Uint8Array(20);
  const v = new DataView(h.buffer);
  h[0] = 0x45;
  v.setUint16(2, 20 + payloadLength);
  v.setUint16(4, id);
  v.setUint16(6, frag);
  h[8] = 64;
  h[9] = proto;
  h.set(SRC, 12);
  h.set(DST, 16);
  v.setUint16(10, checksum(h));
  return h;
}

/** A whole datagram (DF clear) around `payload`. */
function datagram(id: number, payload: Uint8Array, proto = UDP): Uint8Array {
  const d = new Uint8Array(20 + payload.length);
  d.set(header(id, payload.length, 0, proto));
  d.set(payload, 20);
  return d;
}

/** Payload bytes that differ from position to position and datagram to datagram. */
const pattern = (n: number, seed = 0) =>
  Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed * 13 + 1) & 0xff);

function parse(bytes: Uint8Array): Ipv4Header {
  const h = parseIpv4(bytes);
  if (typeof h === "string") throw new Error(`test built a bad datagram: ${h}`);
  return h;
}

/** One fragment built by hand: data `payload` at byte `offset`, MF as given. */
function fragment(id: number, offset: number, payload: Uint8Array, mf: boolean): Ipv4Header {
  const bytes = new Uint8Array(20 + payload.length);
  bytes.set(header(id, payload.length, (mf ? 0x2000 : 0) | (offset / 8)));
  bytes.set(payload, 20);
  return parse(bytes);
}

const cut = (d: Uint8Array, mtu: number) => fragmentIpv4(d, mtu).map(parse);
const whole = (h: Ipv4Header) => {
  const out = new Uint8Array(h.header.length + h.payload.length);
  out.set(h.header);
  out.set(h.payload, h.header.length);
  return out;
};

/** A Reassembly on a fake clock, with its counters and timers in view. */
function harness(limits?: Partial<ReassemblyLimits>) {
  let now = 0;
  const timers = new Set<{ at: number; fn: () => void }>();
  const drops = new Map<string, number>();
  const counts = new Map<string, number>();
  const r = new Reassembly({
    now: () => now,
    setTimer(fn, ms) {
      const t = { at: now + ms, fn };
      timers.add(t);
      return () => void timers.delete(t);
    },
    drop: (why, n = 1) => void drops.set(why, (drops.get(why) ?? 0) + n),
    count: (what) => void counts.set(what, (counts.get(what) ?? 0) + 1),
    limits,
  });
  /** Moves the clock by `ms`, firing the timers that come due in order. */
  const advance = (ms: number) => {
    const until = now + ms;
    for (;;) {
      const due = [...timers].filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      timers.delete(due);
      now = due.at;
      due.fn();
    }
    now = until;
  };
  /** Feeds fragments in order; returns what came out (datagrams completed). */
  const feed = (frags: Ipv4Header[]) => frags.map((f) => r.input(f)).filter((x) => x !== undefined);
  return { r, drops: () => Object.fromEntries(drops), counts, timers, advance, feed };
}

describe("fragmentIpv4", () => {
  it("cuts at multiples of 8 with MF on all but the last, each piece a valid datagram that fits", () => {
    const d = datagram(0x4242, pattern(3000));
    const frags = fragmentIpv4(d, 1500);
    expect(frags.map((f) => f.length)).toEqual([1500, 1500, 60]);
    const parsed = frags.map(parse); // parse checks every header checksum
    expect(parsed.map((f) => [f.fragmentOffset, f.mf, f.id, f.totalLength])).toEqual([
      [0, true, 0x4242, 1500],
      [1480, true, 0x4242, 1500],
      [2960, false, 0x4242, 60],
    ]);
    const data = new Uint8Array(3000);
    for (const f of parsed) data.set(f.payload, f.fragmentOffset);
    expect(data).toEqual(pattern(3000));
    // An MTU that is not 20 + a multiple of 8 rounds the data down.
    const small = cut(d, 100);
    expect(small.slice(0, -1).map((f) => f.payload.length)).toEqual(Array(37).fill(80));
    expect(small.at(-1)!.payload.length).toBe(3000 - 37 * 80);
  });

  it("returns a datagram that fits alone, and refuses DF, options, or an MTU with no room", () => {
    const small = datagram(1, pattern(100));
    expect(fragmentIpv4(small, 1500)).toEqual([small]);
    const df = small.slice();
    df[6] = 0x40;
    df[10] = df[11] = 0;
    const sum = checksum(df.subarray(0, 20));
    df[10] = sum >> 8;
    df[11] = sum & 0xff;
    expect(() => fragmentIpv4(df, 60)).toThrow(/Don't Fragment/);
    expect(() => fragmentIpv4(small, 27)).toThrow(RangeError);
    expect(() => fragmentIpv4(small.subarray(0, 10), 60)).toThrow(RangeError);
  });

  it("cuts a fragment again into pieces whose offsets and MF read as one cut of the original", () => {
    const d = datagram(7, pattern(2000));
    const [a, b] = fragmentIpv4(d, 1500); // a: [0,1480) MF, b: [1480,2000) last
    const again = [...fragmentIpv4(a!, 600), ...fragmentIpv4(b!, 600)].map(parse);
    // a's pieces all keep MF (data follows a), b fits 600 and goes as it is.
    expect(again.map((f) => [f.fragmentOffset, f.mf])).toEqual([
      [0, true],
      [576, true],
      [1152, true],
      [1480, false],
    ]);
    const h = harness();
    const [out] = h.feed(again);
    expect(whole(out!)).toEqual(d);
  });
});

describe("Reassembly: whole datagrams", () => {
  it("puts fragments arriving in order back byte-exact, header and all", () => {
    const d = datagram(100, pattern(4000));
    const h = harness();
    const frags = cut(d, 1500);
    expect(frags.slice(0, -1).map((f) => h.r.input(f))).toEqual([undefined, undefined]);
    const out = h.r.input(frags.at(-1)!)!;
    expect(out.mf).toBe(false);
    expect(out.fragmentOffset).toBe(0);
    expect(out.totalLength).toBe(4020);
    expect(out.id).toBe(100);
    expect(checksum(out.header)).toBe(0);
    expect(whole(out)).toEqual(d);
    expect(h.counts.get("ip.reassembled")).toBe(1);
    expect(h.r.pending()).toEqual({ datagrams: 0, bytes: 0 });
    expect(h.timers.size).toBe(0);
    expect(h.drops()).toEqual({});
  });

  it("puts them back in reverse order, and keeps two interleaved datagrams apart", () => {
    const d1 = datagram(1, pattern(3000, 1));
    const d2 = datagram(2, pattern(2500, 2));
    const h = harness();
    const f1 = cut(d1, 576).reverse();
    const f2 = cut(d2, 576).reverse();
    const mixed = f1.flatMap((f, i) => (f2[i] ? [f, f2[i]!] : [f]));
    const out = h.feed(mixed);
    expect(out.map(whole)).toEqual([d2, d1]);
    expect(h.drops()).toEqual({});
  });

  it("gives the result the first fragment's header, options included", () => {
    // A first fragment with one word of options (NOP NOP NOP, end of list): IHL 6.
    const first = new Uint8Array(24 + 8);
    const v = new DataView(first.buffer);
    first[0] = 0x46;
    v.setUint16(2, first.length);
    v.setUint16(4, 77);
    v.setUint16(6, 0x2000);
    first[8] = 64;
    first[9] = UDP;
    first.set(SRC, 12);
    first.set(DST, 16);
    first.set([1, 1, 1, 0], 20);
    v.setUint16(10, checksum(first.subarray(0, 24)));
    first.set(pattern(8, 1), 24);
    const h = harness();
    // The later piece arrives first: its 20-byte header is not the one that counts.
    expect(h.r.input(fragment(77, 8, pattern(8, 2), false))).toBeUndefined();
    const out = h.r.input(parse(first))!;
    expect([out.headerLength, out.totalLength, [...out.header.subarray(20)]]).toEqual([24, 40, [1, 1, 1, 0]]);
    expect(parse(whole(out))).toMatchObject({ headerLength: 24, totalLength: 40, id: 77, mf: false });
    expect(out.payload).toEqual(Uint8Array.from([...pattern(8, 1), ...pattern(8, 2)]));
  });

  it("reassembles the largest datagram there is (65535 bytes) and nothing larger", () => {
    const d = datagram(9, pattern(65535 - 20));
    const h = harness();
    const [out] = h.feed(cut(d, 1500));
    expect(whole(out!)).toEqual(d);
    // One byte more than 65535, claimed by a last fragment at the highest offset of its size.
    h.r.input(fragment(10, 0, pattern(8), true));
    expect(h.r.input(fragment(10, 65512, pattern(4), false))).toBeUndefined();
    expect(h.drops()).toEqual({ "ip.reassembly-too-big": 1 });
    expect(h.r.pending().datagrams).toBe(0);
    // Ping of death: an offset of 65528 plus data reaches past 65535 before anything else came.
    h.r.input(fragment(11, 65528, pattern(16), true));
    expect(h.drops()["ip.reassembly-too-big"]).toBe(2);
    expect(h.r.pending()).toEqual({ datagrams: 0, bytes: 0 });
  });

  it("property: any permutation of any datagram's fragments, with duplicates mixed in, comes back byte-exact", () => {
    const cases = fc
      .record({
        length: fc.integer({ min: 1, max: 6000 }),
        mtu: fc.integer({ min: 200, max: 1500 }),
        id: fc.integer({ min: 0, max: 0xffff }),
        seed: fc.nat(255),
      })
      // More than one fragment (a datagram that fits is no fragment), and not more than a datagram may have.
      .filter((c) => c.length + 20 > c.mtu)
      .filter(
        (c) => Math.ceil(c.length / (Math.floor((c.mtu - 20) / 8) * 8)) <= REASSEMBLY_LIMITS.maxFragments,
      )
      .chain((c) => {
        const d = datagram(c.id, pattern(c.length, c.seed));
        const n = fragmentIpv4(d, c.mtu).length;
        const order = Array.from({ length: n }, (_, i) => i);
        return fc.record({
          d: fc.constant(d),
          mtu: fc.constant(c.mtu),
          order: fc.shuffledSubarray(order, { minLength: n, maxLength: n }),
          // After the i-th fragment, maybe resend one of those already sent (index into them).
          resend: fc.array(fc.option(fc.nat(), { nil: undefined }), { minLength: n, maxLength: n }),
        });
      });
    fc.assert(
      fc.property(cases, ({ d, mtu, order, resend }) => {
        const frags = cut(d, mtu);
        const h = harness();
        const sent: Ipv4Header[] = [];
        let duplicates = 0;
        for (let i = 0; i < order.length; i++) {
          const f = frags[order[i]!]!;
          const out = h.r.input(f);
          sent.push(f);
          if (i < order.length - 1) {
            expect(out).toBeUndefined();
            const again = resend[i];
            if (again !== undefined) {
              expect(h.r.input(sent[again % sent.length]!)).toBeUndefined();
              duplicates++;
            }
          } else {
            expect(whole(out!)).toEqual(d);
          }
        }
        expect(h.counts.get("ip.reassembled")).toBe(1);
        expect(h.drops()).toEqual(duplicates ? { "ip.reassembly-duplicate": duplicates } : {});
        expect(h.r.pending()).toEqual({ datagrams: 0, bytes: 0 });
        expect(h.timers.size).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});

describe("Reassembly: what it refuses", () => {
  it("drops the whole datagram on any overlap, and ignores only an exact duplicate", () => {
    const h = harness();
    const a = fragment(1, 0, pattern(16, 1), true);
    h.r.input(a);
    h.r.input(fragment(1, 0, pattern(16, 1), true)); // the same bytes again: harmless
    expect(h.drops()).toEqual({ "ip.reassembly-duplicate": 1 });
    expect(h.r.pending().datagrams).toBe(1);
    // The same place with other bytes is the ambiguity overlap attacks use: which copy wins?
    expect(h.r.input(fragment(1, 0, pattern(16, 2), true))).toBeUndefined();
    expect(h.drops()["ip.reassembly-overlap"]).toBe(1);
    expect(h.r.pending()).toEqual({ datagrams: 0, bytes: 0 });
    expect(h.timers.size).toBe(0);

    // A piece reaching into the next one, and one starting inside the previous one.
    h.feed([fragment(2, 16, pattern(16), true), fragment(2, 8, pattern(16), true)]);
    h.feed([fragment(3, 0, pattern(16), true), fragment(3, 8, pattern(16), false)]);
    // A piece covering one already held (same start, longer).
    h.feed([fragment(4, 0, pattern(8), true), fragment(4, 0, pattern(24), true)]);
    expect(h.drops()["ip.reassembly-overlap"]).toBe(4);
    expect(h.r.pending()).toEqual({ datagrams: 0, bytes: 0 });
    // What is left of a dropped datagram starts a new one that cannot complete: nothing comes out.
    expect(h.feed([fragment(2, 0, pattern(16), true), fragment(2, 32, pattern(8), false)])).toEqual([]);
    expect(h.r.pending().datagrams).toBe(1);
  });

  it("drops a datagram whose pieces disagree about where it ends", () => {
    const h = harness();
    // Two last fragments with different ends.
    h.feed([fragment(1, 16, pattern(8), false), fragment(1, 32, pattern(8), false)]);
    // Data beyond the end a last fragment fixed.
    h.feed([fragment(2, 8, pattern(8), false), fragment(2, 16, pattern(8), true)]);
    // A last fragment ending before data already held.
    h.feed([fragment(3, 64, pattern(8), true), fragment(3, 16, pattern(8), false)]);
    // A last fragment with the same range and bytes as a held middle one is no duplicate.
    h.feed([fragment(4, 8, pattern(8), true), fragment(4, 8, pattern(8), false)]);
    expect(h.drops()).toEqual({ "ip.reassembly-bad-end": 3, "ip.reassembly-overlap": 1 });
    expect(h.r.pending()).toEqual({ datagrams: 0, bytes: 0 });
    // The same last fragment twice is a duplicate.
    expect(h.feed([fragment(5, 8, pattern(8), false), fragment(5, 8, pattern(8), false)])).toEqual([]);
    expect(h.drops()["ip.reassembly-duplicate"]).toBe(1);
    const [out] = h.feed([fragment(5, 0, pattern(8), true)]);
    expect(out!.payload).toEqual(Uint8Array.from([...pattern(8), ...pattern(8)]));
  });

  it("refuses malformed fragments without keeping any state for them", () => {
    const h = harness();
    h.r.input(fragment(1, 0, pattern(12), true)); // not a multiple of 8, yet more follow
    h.r.input(fragment(2, 8, new Uint8Array(0), false)); // carries nothing
    h.r.input(fragment(3, 0, new Uint8Array(0), true));
    expect(h.drops()).toEqual({ "ip.bad-fragment": 3 });
    expect(h.r.pending()).toEqual({ datagrams: 0, bytes: 0 });
    expect(h.timers.size).toBe(0);
    // A malformed piece of a datagram in progress does not cost that datagram its pieces.
    h.r.input(fragment(4, 0, pattern(8), true));
    h.r.input(fragment(4, 8, pattern(5), true));
    const [out] = h.feed([fragment(4, 8, pattern(5), false)]);
    expect(out!.payload.length).toBe(13);
  });

  it("drops a datagram made of more pieces than allowed", () => {
    const h = harness();
    const slivers = Array.from({ length: 65 }, (_, i) => fragment(1, i * 8, pattern(8, i), true));
    expect(h.feed(slivers)).toEqual([]);
    expect(h.drops()).toEqual({ "ip.reassembly-too-many-fragments": 1 });
    expect(h.r.pending()).toEqual({ datagrams: 0, bytes: 0 });
    // 64 pieces are fine.
    const ok = Array.from({ length: 64 }, (_, i) => fragment(2, i * 8, pattern(8, i), i < 63)).reverse();
    expect(h.feed(ok).map((d) => d.payload.length)).toEqual([512]);
  });

  it("survives teardrop: pieces inside earlier ones, whose naive copy length is negative", () => {
    const h = harness();
    const attack: Ipv4Header[] = [];
    for (let id = 0; id < 200; id++) {
      // The classic pair: [0, 36) then a last piece at 24 ending at 28, inside the first.
      attack.push(fragment(id, 0, pattern(40, id), true), fragment(id, 24, pattern(4), false));
      // And the variant with MF set: a piece wholly inside the first, and one straddling its end.
      attack.push(fragment(id + 1000, 0, pattern(64), true), fragment(id + 1000, 8, pattern(8), true));
      attack.push(fragment(id + 2000, 0, pattern(64), true), fragment(id + 2000, 56, pattern(16), false));
    }
    expect(() => h.feed(attack)).not.toThrow();
    expect(h.counts.get("ip.reassembled")).toBeUndefined();
    expect(h.drops()).toEqual({ "ip.reassembly-bad-end": 200, "ip.reassembly-overlap": 400 });
    expect(h.r.pending()).toEqual({ datagrams: 0, bytes: 0 });
    expect(h.timers.size).toBe(0);
  });

  it("property: arbitrary fragment streams never throw, stay in bounds, and only give whole consistent datagrams", () => {
    const piece = fc.record({
      id: fc.integer({ min: 0, max: 3 }),
      units: fc.integer({ min: 0, max: 8191 }),
      near: fc.boolean(), // most pieces near the start, so datagrams can complete
      length: fc.integer({ min: 0, max: 64 }),
      mf: fc.boolean(),
      seed: fc.nat(255),
    });
    const limits = { maxBytes: 2000, maxDatagrams: 3, maxFragments: 8 };
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 120 }), (pieces) => {
        const h = harness(limits);
        for (const p of pieces) {
          const offset = (p.near ? p.units % 16 : p.units) * 8;
          const len = Math.min(p.length, 65515 - offset);
          const out = h.r.input(fragment(p.id, offset, pattern(len, p.seed), p.mf));
          const { datagrams, bytes } = h.r.pending();
          expect(datagrams).toBeLessThanOrEqual(limits.maxDatagrams);
          expect(bytes).toBeLessThanOrEqual(limits.maxBytes);
          expect(bytes).toBeGreaterThanOrEqual(0);
          expect(h.timers.size).toBe(datagrams);
          if (out) {
            expect(out.totalLength).toBe(out.header.length + out.payload.length);
            expect(out.mf).toBe(false);
            expect(parseIpv4(whole(out))).toMatchObject({ id: p.id, totalLength: out.totalLength });
          }
        }
        h.r.close();
        expect(h.timers.size).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});

describe("Reassembly: time and memory bounds", () => {
  it("drops a datagram 30 s after its first fragment, however its pieces trickle in", () => {
    const h = harness();
    const [a, b, c] = cut(datagram(5, pattern(3000)), 1500);
    h.r.input(a!);
    h.advance(20_000);
    h.r.input(b!); // does not restart the clock
    h.advance(9_999);
    expect(h.r.pending().datagrams).toBe(1);
    h.advance(1);
    expect(h.drops()).toEqual({ "ip.reassembly-timeout": 1 });
    expect(h.r.pending()).toEqual({ datagrams: 0, bytes: 0 });
    // The last piece now starts a datagram of its own that will never complete.
    expect(h.r.input(c!)).toBeUndefined();
    h.advance(30_000);
    expect(h.drops()).toEqual({ "ip.reassembly-timeout": 2 });
  });

  it("counts one timeout per datagram, and close() stops every timer", () => {
    const h = harness();
    for (let id = 0; id < 3; id++) h.r.input(fragment(id, 0, pattern(8), true));
    h.advance(30_000);
    expect(h.drops()).toEqual({ "ip.reassembly-timeout": 3 });
    for (let id = 0; id < 5; id++) h.r.input(fragment(id, 0, pattern(8), true));
    expect(h.timers.size).toBe(5);
    h.r.close();
    expect(h.timers.size).toBe(0);
    expect(h.r.pending()).toEqual({ datagrams: 0, bytes: 0 });
  });

  it("expires by the clock too, when a timer fires late", () => {
    // Timers that never fire on their own: only the clock says the datagram is stale.
    let now = 0;
    const drops: string[] = [];
    const r = new Reassembly({
      now: () => now,
      setTimer: () => () => {},
      drop: (w) => drops.push(w),
      count() {},
    });
    const [a, b] = cut(datagram(6, pattern(2000)), 1500);
    r.input(a!);
    now = 30_000;
    expect(r.input(b!)).toBeUndefined();
    expect(drops).toEqual(["ip.reassembly-timeout"]);
    expect(r.pending().datagrams).toBe(1); // b, waiting for an a of its own
  });

  it("keeps at most 64 datagrams pending, dropping the oldest", () => {
    const h = harness();
    const firsts = Array.from({ length: 65 }, (_, id) => cut(datagram(id, pattern(2000, id)), 1500));
    for (const [a] of firsts) h.r.input(a!);
    expect(h.r.pending().datagrams).toBe(64);
    expect(h.drops()).toEqual({ "ip.reassembly-overflow": 1 });
    expect(h.timers.size).toBe(64);
    // Datagram 0 was the one dropped: its last piece starts a 65th datagram, pushing out 1 now.
    expect(h.r.input(firsts[0]![1]!)).toBeUndefined();
    expect(h.drops()).toEqual({ "ip.reassembly-overflow": 2 });
    expect(h.r.input(firsts[1]![1]!)).toBeUndefined();
    // 3, the oldest after 1 and 2 were pushed out, is still whole once its last piece comes.
    expect(whole(h.r.input(firsts[3]![1]!)!)).toEqual(datagram(3, pattern(2000, 3)));
    expect(h.drops()).toEqual({ "ip.reassembly-overflow": 3 });
  });

  it("keeps the bytes pending under the budget, dropping the oldest datagrams to make room", () => {
    const budget = 10_000;
    const h = harness({ maxBytes: budget });
    const charge = 1480 + 20 + FRAGMENT_OVERHEAD; // a first fragment off a 1500-byte link
    for (let id = 0; id < 20; id++) {
      h.r.input(cut(datagram(id, pattern(3000, id)), 1500)[0]!);
      expect(h.r.pending().bytes).toBeLessThanOrEqual(budget);
    }
    const kept = Math.floor(budget / charge);
    expect(h.r.pending()).toEqual({ datagrams: kept, bytes: kept * charge });
    expect(h.drops()).toEqual({ "ip.reassembly-overflow": 20 - kept });
    // The newest survived and completes.
    const last = cut(datagram(19, pattern(3000, 19)), 1500);
    expect(h.feed(last.slice(1)).map(whole)).toEqual([datagram(19, pattern(3000, 19))]);
    // A datagram that outgrows the budget alone is itself dropped, not left half-held.
    const tiny = harness({ maxBytes: 2 * charge });
    expect(tiny.feed(cut(datagram(1, pattern(6000)), 1500))).toEqual([]);
    expect(tiny.drops()["ip.reassembly-overflow"]).toBe(1);
    expect(tiny.r.pending().bytes).toBeLessThanOrEqual(2 * charge);
  });

  it("holds memory bounded under 10 000 tiny first fragments of distinct ids", () => {
    const h = harness();
    let maxBytes = 0;
    for (let id = 0; id < 10_000; id++) {
      h.r.input(fragment(id, 0, pattern(8, id), true));
      maxBytes = Math.max(maxBytes, h.r.pending().bytes);
    }
    expect(h.r.pending().datagrams).toBe(64);
    expect(maxBytes).toBe(64 * (8 + 20 + FRAGMENT_OVERHEAD));
    expect(h.timers.size).toBe(64);
    expect(h.drops()).toEqual({ "ip.reassembly-overflow": 10_000 - 64 });
    // The most recent ones are the ones kept: 9999 completes.
    expect(h.r.input(fragment(9999, 8, pattern(8), false))!.payload.length).toBe(16);
    h.advance(30_000);
    expect(h.r.pending()).toEqual({ datagrams: 0, bytes: 0 });
    expect(h.drops()["ip.reassembly-timeout"]).toBe(63);
  });
});
