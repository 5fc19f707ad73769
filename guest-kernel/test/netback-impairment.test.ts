/**
 * A bridge impaired for tests, driven with ports that record what they are handed: 1% loss over
 * 100 000 frames drops about 1 000, exactly as many as the counter says, and nothing else changes;
 * the same seed makes the same choices; reordered frames all arrive, each overtaken by one frame;
 * duplicates arrive next to their original; with every probability 0 the bridge is unimpaired; a
 * held frame goes out on the (real) timer when no later frame comes. Then the control request:
 * it makes a bridge not yet made, refuses bad knobs in one line, and network-list shows the counts.
 */
import { describe, expect, it } from "vitest";
import { formatBridgeList, type BridgeRow, type ImpairRow } from "@pvkit/abi/toolstack-protocol";
import { Bridge } from "../src/dom0/netback/bridge.ts";
import type { HoldTimer } from "../src/dom0/netback/impairment.ts";
import { NetControl, type Connection } from "../src/dom0/netback/net-control.ts";
import type { NetbackService } from "../src/dom0/netback/service.ts";
import { RecordingPort } from "./helpers/recording-port.ts";

/** A timer the test fires when it chooses. */
class ManualTimer implements HoldTimer {
  private next = 1;
  readonly pending = new Map<number, () => void>();
  set(fn: () => void): number {
    this.pending.set(this.next, fn);
    return this.next++;
  }
  clear(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  fire(): void {
    const fns = [...this.pending.values()];
    this.pending.clear();
    for (const fn of fns) fn();
  }
}

const mac = (last: number) => Uint8Array.of(0x00, 0x16, 0x3e, 0, 0, last);
const BROADCAST = new Uint8Array(6).fill(0xff);
const N = 100_000;

function frame(dst: Uint8Array, src: Uint8Array, seq: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, seq);
  f.fill(seq & 0xff, 18); // content a mix-up between frames would show
  return f;
}

/** Three ports; b has been learned (its hello flooded to a and c, who forget they saw it). */
function setup(timer?: HoldTimer) {
  const bridge = new Bridge("pvbr0", Date.now, undefined, timer);
  const [a, b, c] = [1, 2, 3].map((i) => new RecordingPort(`vif${i}.0`, i, mac(i)));
  for (const p of [a!, b!, c!]) bridge.attach(p);
  bridge.input(b!, frame(BROADCAST, b!.mac, 0));
  a!.got.length = c!.got.length = 0;
  return { bridge, a: a!, b: b!, c: c! };
}

const impairment = (s: Partial<{ loss: number; reorder: number; duplicate: number; seed: number }>) => ({
  loss: 0,
  reorder: 0,
  duplicate: 0,
  seed: 1,
  ...s,
});

/** a sends frames 0..n-1 to b; returns the sequence numbers b got. */
function blast(bridge: Bridge, a: RecordingPort, b: RecordingPort, n = N): number[] {
  for (let i = 0; i < n; i++) bridge.input(a, frame(b.mac, a.mac, i));
  return b.seqs();
}

describe("an impaired bridge", () => {
  it("drops about 1% of 100 000 frames at 1% loss, exactly as counted; the rest arrive once, in order", () => {
    const { bridge, a, b, c } = setup();
    bridge.impair(impairment({ loss: 0.01, seed: 42 }));
    const got = blast(bridge, a, b);
    const dropped = N - got.length;
    expect(dropped).toBeGreaterThan(800);
    expect(dropped).toBeLessThan(1200);
    expect(bridge.stats).toMatchObject({ dropped, reordered: 0, duplicated: 0 });
    // Strictly increasing: none twice, none out of order; and each is whole, with its own content.
    expect(got.every((s, i) => i === 0 || s > got[i - 1]!)).toBe(true);
    expect(b.got.every((f, i) => f[59] === (got[i]! & 0xff))).toBe(true);
    expect(c.got).toEqual([]); // unicast still goes only to the learned port
  });

  it("makes the same choices from the same seed, and others from another", () => {
    const droppedWith = (seed: number) => {
      const { bridge, a, b } = setup();
      bridge.impair(impairment({ loss: 0.01, seed }));
      const got = new Set(blast(bridge, a, b, 20_000));
      return [...Array(20_000).keys()].filter((i) => !got.has(i));
    };
    const first = droppedWith(7);
    expect(first.length).toBeGreaterThan(0);
    expect(droppedWith(7)).toEqual(first);
    expect(droppedWith(8)).not.toEqual(first);
  });

  it("delivers every reordered frame, each right after the one frame that overtook it", () => {
    const timer = new ManualTimer();
    const { bridge, a, b } = setup(timer);
    bridge.impair(impairment({ reorder: 0.05 }));
    blast(bridge, a, b);
    timer.fire(); // the last frame may still be held: its timer lets it go
    const got = b.seqs();
    expect([...got].sort((x, y) => x - y)).toEqual([...Array(N).keys()]);
    const swaps = got.filter((s, i) => i > 0 && s < got[i - 1]!).length;
    expect(swaps).toBe(bridge.stats.reordered);
    expect(swaps).toBeGreaterThan(N * 0.03);
    // Each held frame n comes right after the frame n+1 that overtook it, nothing further.
    expect(got.every((s, i) => i === 0 || s > got[i - 1]! || s === got[i - 1]! - 1)).toBe(true);
  });

  it("hands a duplicated frame over twice, one after the other", () => {
    const { bridge, a, b } = setup();
    bridge.impair(impairment({ duplicate: 0.02 }));
    const got = blast(bridge, a, b);
    expect(got.length).toBe(N + bridge.stats.duplicated);
    expect(bridge.stats.duplicated).toBeGreaterThan(N * 0.01);
    expect(got.filter((s, i) => i === 0 || s !== got[i - 1])).toEqual([...Array(N).keys()]);
  });

  it("with all three at once, every frame not dropped arrives, at least once", () => {
    const timer = new ManualTimer();
    const { bridge, a, b } = setup(timer);
    bridge.impair(impairment({ loss: 0.01, reorder: 0.01, duplicate: 0.01, seed: 3 }));
    blast(bridge, a, b);
    timer.fire();
    const got = b.seqs();
    const { dropped, reordered, duplicated } = bridge.stats;
    expect([dropped > 0, reordered > 0, duplicated > 0]).toEqual([true, true, true]);
    expect(new Set(got).size).toBe(N - dropped);
    expect(got.length).toBe(N - dropped + duplicated);
  });

  it("decides for each port of a flood on its own", () => {
    const { bridge, a, b, c } = setup();
    bridge.impair(impairment({ loss: 0.5 }));
    for (let i = 0; i < 1000; i++) bridge.input(a, frame(BROADCAST, a.mac, i));
    expect(b.got.length + c.got.length).toBe(2000 - bridge.stats.dropped);
    expect(b.got.length).toBeGreaterThan(400);
    expect(c.got.length).toBeGreaterThan(400);
    expect(b.seqs()).not.toEqual(c.seqs());
  });

  it("with every probability 0 is not impaired: order and content go through unchanged", () => {
    const { bridge, a, b, c } = setup();
    bridge.impair(impairment({ seed: 99 }));
    expect(bridge.impaired).toBeUndefined();
    const sent = [...Array(1000).keys()].map((i) => frame(i % 10 ? b.mac : BROADCAST, a.mac, i));
    for (const f of sent) bridge.input(a, f);
    expect(b.got).toEqual(sent);
    b.got.forEach((f, i) => expect(f).toBe(sent[i])); // the very frames, not copies
    expect(c.got).toEqual(sent.filter((_, i) => i % 10 === 0));
    expect(bridge.stats).toMatchObject({ dropped: 0, reordered: 0, duplicated: 0 });
  });

  it("lets a held frame go on its timer when no later frame comes", async () => {
    const { bridge, a, b } = setup(); // the real timer
    bridge.impair(impairment({ reorder: 1 }));
    const arrived = new Promise<void>((r) => (b.onSend = r));
    bridge.input(a, frame(b.mac, a.mac, 77));
    expect(b.got).toEqual([]); // held back
    await arrived;
    expect(b.seqs()).toEqual([77]);
    expect(b.got[0]![59]).toBe(77);
    expect(bridge.stats.reordered).toBe(1);
  });

  it("lets held frames go when cleared, and forgets one for a port that left", () => {
    const timer = new ManualTimer();
    const { bridge, a, b, c } = setup(timer);
    bridge.impair(impairment({ reorder: 1 }));
    bridge.input(a, frame(b.mac, a.mac, 1));
    expect(b.got).toEqual([]);
    bridge.impair(undefined);
    expect(b.seqs()).toEqual([1]);
    expect(timer.pending.size).toBe(0);
    bridge.impair(impairment({ reorder: 1 }));
    bridge.input(a, frame(BROADCAST, a.mac, 2)); // held for b and for c
    bridge.detach(c);
    timer.fire();
    expect(b.seqs()).toEqual([1, 2]);
    expect(c.got).toEqual([]);
  });
});

describe("the network-impair request", () => {
  function control() {
    const bridges = new Map<string, Bridge>();
    const netback = {
      bridges,
      list: () => [],
      bridge: (name: string) => {
        if (!bridges.has(name)) bridges.set(name, new Bridge(name));
        return bridges.get(name)!;
      },
    } as unknown as NetbackService;
    const store = { tryRead: () => undefined, directory: () => [] };
    const conn: Connection = { once: () => undefined };
    const nc = new NetControl(netback, store, () => 0);
    const send = (req: Record<string, unknown>) =>
      nc.handle({ id: 1, op: "network-impair", bridge: "pvbr9", ...req } as never, conn);
    return { nc, bridges, send };
  }

  it("makes a bridge not yet made, defaults the seed and the knobs left out, and all 0 clears", async () => {
    const { nc, bridges, send } = control();
    expect(await send({ loss: 0.5 })).toEqual<ImpairRow>({
      bridge: "pvbr9",
      impairment: { loss: 0.5, reorder: 0, duplicate: 0, seed: 1 },
    });
    const bridge = bridges.get("pvbr9")!;
    const [a, b] = [1, 2].map((i) => new RecordingPort(`vif${i}.0`, i, mac(i)));
    bridge.attach(a!);
    bridge.attach(b!);
    for (let i = 0; i < 100; i++) bridge.input(a!, frame(b!.mac, a!.mac, i));
    const rows = nc.bridges();
    expect(rows).toMatchObject<Partial<BridgeRow>[]>([
      { name: "pvbr9", impairment: { loss: 0.5, reorder: 0, duplicate: 0, seed: 1 }, reordered: 0 },
    ]);
    expect(rows[0]!.dropped).toBe(100 - b!.got.length);
    expect(formatBridgeList(rows)).toContain(
      `pvbr9: impairment (for tests): loss 50%, reorder 0%, duplicate 0%, seed 1; ${rows[0]!.dropped} dropped, 0 reordered, 0 duplicated\n`,
    );
    expect(await send({ seed: 5 })).toEqual({ bridge: "pvbr9", impairment: null });
    expect(formatBridgeList(nc.bridges())).toContain("pvbr9: impairment (for tests): off; ");
  });

  it("refuses bad knobs and names in one line", async () => {
    const { send } = control();
    await expect(send({ loss: 1.5 })).rejects.toThrow(
      "network-impair pvbr9: loss 1.5 is not a probability from 0 to 1",
    );
    await expect(send({ reorder: "1%" })).rejects.toThrow(
      'network-impair pvbr9: reorder "1%" is not a probability from 0 to 1',
    );
    await expect(send({ loss: 0.1, seed: -1 })).rejects.toThrow(
      "network-impair pvbr9: seed -1 is not a whole number from 0 to 4294967295",
    );
    await expect(send({ bridge: "no/such", loss: 0.1 })).rejects.toThrow(
      "network-impair no/such: a bridge name is 1 to 15 letters, digits, '.', '_' or '-'",
    );
  });
});
