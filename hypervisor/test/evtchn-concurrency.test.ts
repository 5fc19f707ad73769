// No lost events while a real guest thread clears bits concurrently: the hypervisor sends bursts on
// several ports (some masked and unmasked on the way), and after the last send on each port the
// guest's handler must have run and seen that send's sequence number.
import { afterEach, describe, expect, it } from "vitest";
import { DOMID_SELF } from "../src/evtchn/consts.ts";
import { EventChannels } from "../src/evtchn/evtchn.ts";
import { FakeEvtchnHost } from "../src/evtchn/fake_host.ts";
import { CTL, FakeGuestVcpu } from "../src/evtchn/fake_guest.ts";

let guest: FakeGuestVcpu | undefined;
afterEach(async () => {
  await guest?.stop();
  guest = undefined;
});

async function run(busy: boolean): Promise<void> {
  const host = new FakeEvtchnHost();
  const page = host.addDomain(1, 1);
  host.addDomain(2, 1);
  const ev = new EventChannels(host);
  const g = (guest = new FakeGuestVcpu(page, { busy }));
  host.onKick = () => g.kick();
  await g.ready;
  // Ports spread over three selector words: 1..3 and the ones after filler ports.
  const pairs: [number, number][] = [];
  for (let i = 0; i < 130; i++) {
    const p1 = ev.allocUnbound(1, false, DOMID_SELF, 2);
    const p2 = ev.bindInterdomain(2, 1, p1);
    if (i % 64 < 2) pairs.push([p1, p2]);
  }
  const masks = new BigUint64Array(page.buffer, 2560, 64);
  for (let seq = 1; seq <= 3000; seq++) {
    const [p1, p2] = pairs[seq % pairs.length];
    Atomics.store(g.ctl, CTL.PROD + p1, seq);
    if (seq % 97 === 0) Atomics.or(masks, Math.floor(p1 / 64), 1n << BigInt(p1 % 64)); // guest masks
    expect(ev.send(2, p2)).toBe(0);
    if (seq % 97 === 0) ev.unmask(1, p1); // ...and unmasks through the hypervisor
  }
  const deadline = Date.now() + 5000;
  const done = () => pairs.every(([p1]) => g.ctl[CTL.SNAP + p1] === g.ctl[CTL.PROD + p1]);
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  for (const [p1] of pairs) {
    expect(g.ctl[CTL.SNAP + p1], `port ${p1}`).toBe(g.ctl[CTL.PROD + p1]);
    expect(g.ctl[CTL.COUNT + p1]).toBeGreaterThan(0);
  }
}

describe("event delivery against a concurrent guest", () => {
  it("loses no event with a spinning guest", () => run(true), 15_000);
  it("loses no event with a sleeping guest (kicks wake it)", () => run(false), 15_000);
});
