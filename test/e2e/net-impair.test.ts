/**
 * `pvkit network-impair` against a real host: bad knobs are refused in one line before anything is
 * sent; a bridge impaired with 100% loss before its guests boot (the command makes it) carries none
 * of their frames — each vif sends, none is handed anything, the bridge counts the drops — and once
 * `--off` clears it the two guests (test/guests/net-peer.ts) exchange every frame, none altered or
 * out of order; network-list shows what the impairment did.
 */
import { describe, expect, it } from "vitest";
import type { BridgeRow } from "@pvkit/abi/toolstack-protocol";
import { createNetPair } from "./net-pair.ts";
import { e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-impair-");
const BRIDGE = "brimp";
const COUNT = 300;

const bridgeRow = async (): Promise<BridgeRow | undefined> =>
  (await stage.control<BridgeRow[]>({ op: "network-list" })).find((b) => b.name === BRIDGE);

/** Reads the bridge's row until `ok` holds of it (the test's timeout guards a hang). */
async function until(ok: (b: BridgeRow) => boolean): Promise<BridgeRow> {
  for (;;) {
    const b = await bridgeRow();
    if (b && ok(b)) return b;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("network-impair", { timeout: 120_000 }, () => {
  it("refuses bad knobs in one line", async () => {
    const cases: [string[], string][] = [
      [["--loss", "abc"], 'pvkit: network-impair: --loss "abc": not a percentage\n'],
      [["--reorder", "150%"], 'pvkit: network-impair: --reorder "150%": more than 100%\n'],
      [
        ["--duplicate", "2"],
        'pvkit: network-impair: --duplicate "2": more than 1 (a plain number is a fraction: 0.01 is 1%)\n',
      ],
      [
        ["--loss", "1%", "--seed", "x"],
        'pvkit: network-impair: --seed "x": not a whole number from 0 to 4294967295\n',
      ],
      [["--off", "--loss", "1%"], "pvkit: network-impair: --off takes no other option\n"],
      [["--seed", "3"], "pvkit: network-impair: say --loss, --reorder or --duplicate (or --off)\n"],
    ];
    for (const [args, err] of cases) {
      const r = await stage.pvkit(["network-impair", BRIDGE, ...args]);
      expect([r.code, r.err, r.out]).toEqual([1, err, ""]);
    }
    const name = await stage.pvkit(["network-impair", "no/such", "--loss", "1%"]);
    expect([name.code, name.err]).toEqual([
      1,
      "pvkit: network-impair no/such: a bridge name is 1 to 15 letters, digits, '.', '_' or '-'\n",
    ]);
    expect(await bridgeRow()).toBeUndefined(); // nothing was set, so nothing was made
  });

  it("at 100% loss carries no frame between two guests; --off lets them exchange every one", async () => {
    const on = await stage.pvkit(["network-impair", BRIDGE, "--loss", "100%", "--seed", "9"]);
    expect([on.code, on.out, on.err]).toEqual([
      0,
      `pvkit: ${BRIDGE}: loss 100%, reorder 0%, duplicate 0%, seed 9\n`,
      "",
    ]);
    await createNetPair(stage, { prefix: "imp", tag: "1d", bridge: BRIDGE, count: COUNT });
    // Both say hello over and over; the bridge drops every one. Wait for a few each.
    const cut = await until((b) => b.ports.length === 2 && b.ports.every((p) => p.counters.txFrames >= 3));
    expect(cut.impairment).toEqual({ loss: 1, reorder: 0, duplicate: 0, seed: 9 });
    expect(cut.dropped).toBeGreaterThanOrEqual(6);
    for (const p of cut.ports) expect([p.counters.rxFrames, p.counters.rxDropped]).toEqual([0, 0]);

    const off = await stage.pvkit(["network-impair", BRIDGE, "--off"]);
    expect([off.code, off.out]).toEqual([0, `pvkit: ${BRIDGE}: no impairment\n`]);
    const reports = await Promise.all(["impa", "impb"].map((n) => stage.phase(n, "done")));
    for (const r of reports) expect(r).toMatchObject({ sent: COUNT, received: COUNT, bad: 0 });

    const list = await stage.pvkit(["network-list"]);
    const line = new RegExp(
      `^${BRIDGE}: impairment \\(for tests\\): off; (\\d+) dropped, 0 reordered, 0 duplicated$`,
      "m",
    );
    expect(Number(line.exec(list.out)?.[1])).toBeGreaterThanOrEqual(cut.dropped);
  });
});
