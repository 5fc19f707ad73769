/**
 * dom0's learning bridge with a clock the test moves: unicast goes only where the destination was
 * learned, broadcast floods, a learned entry that has aged past 300 s floods again (and is relearned
 * from the reply), and port taps see each frame to or from their port.
 */
import { describe, expect, it } from "vitest";
import { RecordingPort } from "./helpers/recording-port.ts";
import { AGEING_MS, Bridge } from "../src/dom0/netback/bridge.ts";

const mac = (last: number) => Uint8Array.of(0x00, 0x16, 0x3e, 0, 0, last);
const BROADCAST = new Uint8Array(6).fill(0xff);

function frame(dst: Uint8Array, src: Uint8Array, tag: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f[14] = tag;
  return f;
}

function setup() {
  let now = 1_000_000;
  const bridge = new Bridge("pvbr0", () => now);
  const [a, b, c] = [1, 2, 3].map((i) => new RecordingPort(`vif${i}.0`, i, mac(i)));
  for (const p of [a!, b!, c!]) bridge.attach(p);
  return { bridge, a: a!, b: b!, c: c!, advance: (ms: number) => (now += ms) };
}

describe("the bridge", () => {
  it("floods an unknown destination, then switches to the learned port only", () => {
    const { bridge, a, b, c } = setup();
    bridge.input(a, frame(b.mac, a.mac, 1)); // b unknown: flood
    expect([b.got.length, c.got.length]).toEqual([1, 1]);
    bridge.input(b, frame(a.mac, b.mac, 2)); // a was learned from its first frame
    expect([a.got.length, c.got.length]).toEqual([1, 1]);
    bridge.input(a, frame(b.mac, a.mac, 3)); // b now learned too
    expect([b.got.length, c.got.length]).toEqual([2, 1]);
    expect(bridge.stats).toMatchObject({ frames: 3, flooded: 1 });
    expect(bridge.liveEntries()).toBe(2);
  });

  it("floods broadcast to every other port and never learns a group source", () => {
    const { bridge, a, b, c } = setup();
    bridge.input(a, frame(BROADCAST, a.mac, 1));
    expect([a.got.length, b.got.length, c.got.length]).toEqual([0, 1, 1]);
    bridge.input(b, frame(a.mac, BROADCAST, 2));
    expect(bridge.table().map((e) => e.port)).toEqual(["vif1.0"]);
  });

  it("floods again once an entry has aged past the ageing time, and relearns from the reply", () => {
    const { bridge, a, b, c, advance } = setup();
    bridge.input(b, frame(BROADCAST, b.mac, 0)); // b learned
    bridge.input(a, frame(b.mac, a.mac, 1));
    expect(c.got.length).toBe(1); // only the broadcast reached c
    advance(AGEING_MS); // exactly at the limit: still fresh
    bridge.input(a, frame(b.mac, a.mac, 2));
    expect(c.got.length).toBe(1);
    expect(bridge.liveEntries()).toBe(2);
    advance(1); // b's entry is now older than 300 s (a's was refreshed by its frames)
    expect(bridge.liveEntries()).toBe(1);
    bridge.input(a, frame(b.mac, a.mac, 3));
    expect(c.got.map((f) => f[14])).toEqual([0, 3]); // flooded: c saw it
    expect(b.got.map((f) => f[14])).toEqual([1, 2, 3]);
    bridge.input(b, frame(a.mac, b.mac, 4)); // the reply relearns b
    bridge.input(a, frame(b.mac, a.mac, 5));
    expect(c.got.map((f) => f[14])).toEqual([0, 3]);
    expect(b.got.map((f) => f[14])).toEqual([1, 2, 3, 5]);
  });

  it("forgets a detached port's addresses and does not send to it", () => {
    const { bridge, a, b, c } = setup();
    bridge.input(b, frame(BROADCAST, b.mac, 0));
    bridge.detach(b);
    bridge.input(a, frame(b.mac, a.mac, 1));
    expect(b.got.length).toBe(0);
    expect(c.got.length).toBe(2);
  });

  it("port taps see frames from and to their port, bridge taps every frame entering", () => {
    const { bridge, a, b, c } = setup();
    const atB: number[] = [];
    const all: number[] = [];
    const offB = bridge.tapPort(b, (f) => atB.push(f[14]!));
    const offAll = bridge.tap((f) => all.push(f[14]!));
    bridge.input(a, frame(BROADCAST, a.mac, 1)); // flooded to b
    bridge.input(b, frame(a.mac, b.mac, 2)); // from b
    bridge.input(a, frame(c.mac, a.mac, 3)); // c unknown: flooded, b sees it
    bridge.input(c, frame(a.mac, c.mac, 4)); // switched to a: not b's
    expect(atB).toEqual([1, 2, 3]);
    expect(all).toEqual([1, 2, 3, 4]);
    offB();
    offAll();
    bridge.input(a, frame(BROADCAST, a.mac, 5));
    expect(atB).toEqual([1, 2, 3]);
    expect(all).toEqual([1, 2, 3, 4]);
  });
});
