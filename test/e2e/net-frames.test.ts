/**
 * The issue's check at scale: two guests exchange raw frames of mixed sizes (60..1514 bytes)
 * through dom0's bridge — 100,000 each way in the normal suite, 1,000,000 each way under
 * `pnpm test:long` (PVKIT_NET_FRAMES sets the count) — with none lost, none altered, none out of
 * order: every frame is checked byte by byte by the receiver (test/guests/net-peer.ts), and
 * netfront's counters show no frame completed as an error and no receive refused.
 */
import { describe, expect, it } from "vitest";
import { ControlClient } from "@pvkit/hypervisor/cli/client";
import { createNetPair } from "./net-pair.ts";
import { e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-net-frames-");
const COUNT = Number(process.env.PVKIT_NET_FRAMES ?? 100_000);

interface Done {
  sent: number;
  received: number;
  bad: number;
  ms: number;
  stats: { txErrors: number; rxErrors: number; rxFrames: number };
}

/** The receiver's report: waits as long as the exchange takes, without a deadline of its own. */
async function done(name: string): Promise<Done> {
  const c = await ControlClient.open(stage.host.socket);
  await c.request({ op: "console", domain: name } as never);
  let out = "";
  const line = await new Promise<string>((resolve) =>
    c.rawMode((b) => {
      out += b.toString();
      const l = out.split(/\r?\n/).find((x) => x.includes('"phase":"done"'));
      if (l) resolve(l);
    }),
  );
  c.close();
  return JSON.parse(line.slice(line.indexOf("{"))) as Done;
}

describe(`two guests exchange ${COUNT} frames each way`, { timeout: Math.max(120_000, COUNT * 2) }, () => {
  it("with none lost, altered or reordered", async () => {
    const t0 = performance.now();
    await createNetPair(stage, { prefix: "", tag: "1f", bridge: "pvbrm", count: COUNT });
    const [ra, rb] = await Promise.all([done("a"), done("b")]);
    const seconds = (performance.now() - t0) / 1000;
    for (const r of [ra, rb]) expect(r).toMatchObject({ sent: COUNT, received: COUNT, bad: 0 });
    // netfront's own counters: no tx frame completed as an error, no rx completion refused.
    for (const r of [ra, rb]) expect(r.stats).toMatchObject({ txErrors: 0, rxErrors: 0 });
    expect(ra.stats.rxFrames).toBeGreaterThanOrEqual(COUNT);
    expect(rb.stats.rxFrames).toBeGreaterThanOrEqual(COUNT);
    console.log(
      `${COUNT} frames each way: ${ra.ms.toFixed(0)} / ${rb.ms.toFixed(0)} ms in the guests, ${seconds.toFixed(1)} s with boot`,
    );
  });
});
