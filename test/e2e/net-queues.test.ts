/**
 * `net.queues=N` on a guest's command line: its kernel's netfront connects N queue pairs (the
 * console says so, and xenstore has queue-0..N-1 with their event channels while it runs), and two
 * such guests still exchange 20,000 frames each way of mixed sizes with none lost or altered.
 * (Frames spread over the queues by flow: test/drivers/net-queues.test.ts checks that per queue.)
 */
import { describe, expect, it } from "vitest";
import { createNetPair } from "./net-pair.ts";
import { e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-net-queues-");

const control = <T>(req: Record<string, unknown>) => stage.control<T>(req);

describe("net.queues=4", { timeout: 120_000 }, () => {
  it("connects four queue pairs and loses nothing", async () => {
    const { a } = await createNetPair(stage, {
      prefix: "",
      tag: "4a",
      bridge: "pvbrq",
      count: 20000,
      // hold=1: both stay up once done. The test reads one console after the other, and a guest
      // that powered off once its peer was done too had no console left to read ("no domain b").
      extra: "net.queues=4 hold=1",
    });
    const fe = `/local/domain/${a}/device/vif/0`;
    const read = (p: string) => control<string>({ op: "xenstore-read", path: p }).catch(() => undefined);
    // The handshake is done once the frontend says Connected (a hang guard only).
    for (const guard = Date.now() + 30_000; (await read(`${fe}/state`)) !== "4" && Date.now() < guard;)
      await new Promise((r) => setTimeout(r, 20));
    expect(await read(`${fe}/multi-queue-num-queues`)).toBe("4");
    for (let q = 0; q < 4; q++)
      expect(Number(await read(`${fe}/queue-${q}/event-channel`))).toBeGreaterThan(0);
    for (const name of ["a", "b"]) {
      const out = await stage.console(name, "", /"phase":"done"[^\n]*\n/);
      expect(out).toMatch(/eth0: 00:16:3e:00:4a:0[ab], mtu 1500, 4 queue\(s\)/);
      expect(await stage.phase(name, "done")).toMatchObject({ sent: 20000, received: 20000, bad: 0 });
    }
  });
});
