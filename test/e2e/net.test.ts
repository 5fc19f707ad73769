/**
 * Two guests on one bridge, as a user configures them (`vif = ['mac=..., bridge=pvbr0']`): the
 * toolstack lays out the vifs, dom0's netback serves them and plugs them into its learning switch,
 * each guest's netfront connects at boot, and the guests exchange thousands of raw frames of mixed
 * sizes through k.net — none lost, none altered, in order — at MTU 1500 and 9000.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-net-");

const control = <T>(req: Record<string, unknown>) => stage.control<T>(req);

interface Done {
  mac: string;
  sent: number;
  received: number;
  bad: number;
  ms: number;
}

async function done(name: string): Promise<Done> {
  const out = await stage.console(name, "", /"phase":"done"[^\n]*\n/);
  const line = out.split(/\r?\n/).find((l) => l.includes('"phase":"done"'))!;
  return JSON.parse(line.slice(line.indexOf("{"))) as Done;
}

async function pair(mtu: number, count: number): Promise<[Done, Done]> {
  const a = `00:16:3e:00:${mtu === 1500 ? "01" : "02"}:0a`;
  const b = `00:16:3e:00:${mtu === 1500 ? "01" : "02"}:0b`;
  const bridge = `br${mtu}`;
  const mk = async (name: string, mine: string, peer: string) => {
    const file = join(stage.dir, `${name}.cfg`);
    const config =
      `name = "${name}"\nkernel = "${join(REPO, "test/guests/net-peer.ts")}"\nmemory = 16\n` +
      `vif = ['mac=${mine}, bridge=${bridge}, mtu=${mtu}']\nextra = "peer=${peer} count=${count}"\n`;
    await control({ op: "create", config, file });
  };
  await Promise.all([mk(`a${mtu}`, a, b), mk(`b${mtu}`, b, a)]);
  return Promise.all([done(`a${mtu}`), done(`b${mtu}`)]);
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
