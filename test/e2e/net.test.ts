/**
 * Two guests on one bridge, as a user configures them (`vif = ['mac=..., bridge=pvbr0']`): the
 * toolstack lays out the vifs, dom0's netback serves them and plugs them into its learning switch,
 * each guest's netfront connects at boot, and the guests exchange thousands of raw frames of mixed
 * sizes through k.net — none lost, none altered, in order — at MTU 1500 and 9000.
 */
import { describe, expect, it } from "vitest";
import { createNetPair } from "./net-pair.ts";
import { e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-net-");

interface Done {
  mac: string;
  sent: number;
  received: number;
  bad: number;
  ms: number;
}

async function pair(mtu: number, count: number): Promise<Done[]> {
  const prefix = `n${mtu}`;
  await createNetPair(stage, { prefix, tag: mtu === 1500 ? "01" : "02", bridge: `br${mtu}`, count, mtu });
  return Promise.all([stage.phase<Done>(`${prefix}a`, "done"), stage.phase<Done>(`${prefix}b`, "done")]);
}

describe("two guests on a bridge", { timeout: 120_000 }, () => {
  it("exchange 3000 frames each way at MTU 1500, none lost or altered", async () => {
    const [a, b] = await pair(1500, 3000);
    for (const r of [a, b]) expect(r).toMatchObject({ sent: 3000, received: 3000, bad: 0 });
  });

  it("exchange jumbo frames at MTU 9000 (head and body buffers)", async () => {
    const [a, b] = await pair(9000, 1000);
    for (const r of [a, b]) expect(r).toMatchObject({ sent: 1000, received: 1000, bad: 0 });
  });
});
