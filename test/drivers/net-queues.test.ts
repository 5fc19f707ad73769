/**
 * Several queue pairs per vif (multi-queue-num-queues): netfront asks for them, netback maps every
 * queue, frames spread over the queues by flow on both sides, and none is lost, altered or taken out
 * of its flow's order. Also a frontend that asks for more queues than offered gets what is offered.
 */
import { VMXNET_MAX_QUEUES } from "@pvkit/abi/layout";
import { describe, expect, it } from "vitest";
import { lan, until } from "./net-harness.ts";
import { tcpFrame } from "./net-frames.ts";

describe("multi-queue", () => {
  it("spreads 16 flows over 4 queues on both sides with none lost or reordered", async () => {
    const { guests, store } = await lan(2, { queues: 4 });
    const [a, b] = guests as [NonNullable<(typeof guests)[0]>, NonNullable<(typeof guests)[0]>];
    expect(a.front.info!.queues).toBe(4);
    expect(store.values.get(`${a.fe}/multi-queue-num-queues`)).toBe("4");
    for (let i = 0; i < 4; i++) expect(store.values.get(`${a.fe}/queue-${i}/event-channel`)).toBeDefined();
    const flows = 16;
    const perFlow = 250;
    const sends: Promise<void>[] = [];
    for (let n = 0; n < perFlow; n++)
      for (let fl = 0; fl < flows; fl++) {
        const payload = Buffer.alloc(60 + ((n * 37 + fl) % 1400));
        payload.writeUInt32BE(n, 0);
        payload.fill(fl, 4);
        sends.push(a.front.send(tcpFrame({ src: a.mac, dst: b.mac, dport: 5000 + fl, seq: n, payload })));
      }
    await Promise.all(sends);
    await until(() => b.got.length === flows * perFlow, "every frame arrives");
    const next = new Array<number>(flows).fill(0);
    for (const f of b.got) {
      const v = Buffer.from(f.buffer, f.byteOffset, f.length);
      const fl = v.readUInt16BE(36) - 5000;
      const n = v.readUInt32BE(54);
      expect(n, `flow ${fl}`).toBe(next[fl]);
      expect(v.length).toBe(54 + 60 + ((n * 37 + fl) % 1400));
      expect(v.subarray(58).every((x) => x === fl)).toBe(true);
      next[fl]++;
    }
    const tx = a.front.queueStats().map((s) => s.txFrames);
    const rx = b.front.queueStats().map((s) => s.rxFrames);
    expect(tx.reduce((x, y) => x + y)).toBe(flows * perFlow);
    expect(rx.reduce((x, y) => x + y)).toBe(flows * perFlow);
    for (const n of [...tx, ...rx]) expect(n).toBeGreaterThan(0); // every queue carried some flows
    expect(b.back.counters.rxDropped).toBe(0);
  });

  it("gets no more queues than the backend offers", async () => {
    const { guests } = await lan(1, { queues: 64 });
    expect(guests[0]!.front.info!.queues).toBe(VMXNET_MAX_QUEUES);
  });
});
