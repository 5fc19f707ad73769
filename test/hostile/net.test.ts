/**
 * A hostile frontend against dom0's netback, on a real host. Two victim guests on bridge pvbrx keep
 * echoing frames through their kernels' netfront; an attacker on the same bridge with two vifs takes
 * vif 0 from its kernel and writes raw vmxnet descriptors (guests/net-attacker.ts), listening on
 * vif 1 (its kernel's eth1) for what got through.
 *
 * What must hold ("the backend never trusts the ring"): every bad frame — bad lengths, unknown
 * grants, 17 descriptors, no end of frame, lying offload fields, past the MTU — is dropped, counted
 * in txErrors and completed as VMXNET_TXC_ERROR; every good frame in between arrives byte-exact,
 * including frames whose headers are spread over 16 fragments, plain and TSO (XSA-423/432 shapes);
 * rx buffers that lie drop the frame (rxDropped) with error completions, and with none posted frames
 * wait in netback's bounded backlog (only the overflow is dropped, the oldest comes first); junk where
 * netback only writes changes nothing; and all along the victims' frames come back byte-exact, none
 * lost, and dom0 keeps running.
 */
import { join } from "node:path";
import { RX_BACKLOG_BYTES } from "@pvkit/drivers/net/back-queue";
import { describe, expect, it } from "vitest";

import { REPO, e2eStage } from "../e2e/stage.ts";

const stage = e2eStage("pvkit-hostile-net-");
const OK = 0;
const ERROR = 1;
const SOP_EOP_ERR = 1 | 2 | 4;

const control = <T>(req: Record<string, unknown>) => stage.control<T>(req);

const phase = <T = Record<string, unknown>>(name: string, p: string) => stage.phase<T>(name, p);

async function rounds(domid: number): Promise<number> {
  const v = await control<string>({ op: "xenstore-read", path: `/local/domain/${domid}/data/rounds` }).catch(
    () => "0",
  );
  return Number(v);
}

/** Polls the victim's round count until it passes `n` (the guard only catches a hang). */
async function roundsPass(domid: number, n: number): Promise<number> {
  const guard = Date.now() + 30_000;
  for (;;) {
    const r = await rounds(domid);
    if (r > n) return r;
    if (Date.now() > guard) throw new Error(`the victim is stuck at round ${r}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

const MAC = {
  ping: "00:16:3e:0e:00:01",
  pong: "00:16:3e:0e:00:02",
  a0: "00:16:3e:0e:00:a0",
  a1: "00:16:3e:0e:00:a1",
};

describe("netback against a hostile frontend", { timeout: 120_000 }, () => {
  it("drops and counts every bad frame and buffer, delivers the good ones exact, and keeps serving the victims", async () => {
    const create = async (name: string, kernel: string, vifs: string[], extra = "") => {
      const file = join(stage.dir, `${name}.cfg`);
      const config =
        `name = "${name}"\nkernel = "${join(REPO, kernel)}"\nmemory = 16\n` +
        `vif = [${vifs.map((v) => `'${v}, bridge=pvbrx'`).join(", ")}]\nextra = "${extra}"\n`;
      return (await control<{ domid: number }>({ op: "create", config, file })).domid;
    };
    const victim = "test/hostile/guests/net-victim.ts";
    await create("pong", victim, [`mac=${MAC.pong}`], `role=pong peer=${MAC.ping}`);
    const ping = await create("ping", victim, [`mac=${MAC.ping}`], `role=ping peer=${MAC.pong}`);
    await phase("ping", "running");
    const before = await roundsPass(ping, 0);
    // net.lro=0: the attacker's own eth1 hears TSO frames as the wire's segments, which it checks.
    const attacker = await create(
      "attacker",
      "test/hostile/guests/net-attacker.ts",
      [`mac=${MAC.a0}`, `mac=${MAC.a1}`],
      "net.lro=0",
    );

    const done = await phase<{ cases: Record<string, Record<string, unknown> | boolean> }>(
      "attacker",
      "done",
    );
    const c = done.cases;
    const refused = { sent: 0, errors: 1, completions: [ERROR], heard: 0 };
    expect(c["good frame"]).toEqual({ sent: 1, errors: 0, completions: [OK], heard: 1 });
    expect(c["good frame exact"]).toBe(true);
    for (const name of [
      "length 0",
      "fragment past its page",
      "unknown grant",
      "shorter than a header",
      "past the MTU",
      "17 descriptors",
      "no end of frame",
      "offload mode 1",
      "checksum start past the frame",
      "checksum field before its start",
      "TSO with MSS 0",
      "TSO with hdr_len that lies",
    ])
      expect(c[name], name).toEqual(refused);
    expect(c["16 fragments, headers across them"]).toEqual({
      sent: 1,
      errors: 0,
      completions: [OK],
      heard: 1,
    });
    expect(c["16 fragments exact"]).toBe(true);
    expect(c["TSO, headers across 8 fragments"]).toEqual({ sent: 1, errors: 0, completions: [OK], heard: 9 });
    expect(c["TSO segments"]).toEqual({
      count: 9,
      payloadExact: true,
      checksumsOk: true,
      largest: 54 + 1000,
    });
    const rxRefused = { delivered: 0, dropped: 1, completions: [SOP_EOP_ERR], exact: false };
    expect(c["rx: buffer past its page"]).toEqual(rxRefused);
    expect(c["rx: unknown grant"]).toEqual(rxRefused);
    expect(c["rx: buffer of 0 bytes"]).toEqual(rxRefused);
    expect(c["rx: good buffer"]).toEqual({ delivered: 1, dropped: 0, completions: [1 | 2], exact: true });
    // No buffers: frames wait in netback's backlog (RX_BACKLOG_BYTES, about 4000 of these), only
    // the overflow is dropped, and the first buffer posted gets the oldest frame.
    const noBuffers = c["rx: no buffers"] as { sent: number; queuedAtLeast: number; delivered: number };
    expect(noBuffers.sent).toBeLessThan(100_000);
    expect(noBuffers.queuedAtLeast).toBeGreaterThan(RX_BACKLOG_BYTES / 300);
    expect(c["rx: no buffers"]).toMatchObject({ delivered: 1, oldestFirst: true });
    expect(c["good frame after junk"]).toMatchObject({ sent: 1, errors: 0, heard: 1 });
    expect(c.burst).toEqual({ sent: 300, errors: 300, heard: 300, exact: true });

    // netback's counters for the attacker's vif 0, as published in xenstore.
    const stat = (k: string) =>
      control<string>({
        op: "xenstore-read",
        path: `/local/domain/0/backend/vif/${attacker}/0/statistics/${k}`,
      });
    expect(Number(await stat("tx-errors"))).toBe(12 + 300);
    expect(Number(await stat("tx-frames"))).toBe(1 + 1 + 1 + 1 + 300);
    expect(Number(await stat("rx-dropped"))).toBeGreaterThanOrEqual(4); // 3 refused, the overflow

    // The victims went on during the attack and go on after it, byte-exact, none lost.
    const during = await rounds(ping);
    expect(during).toBeGreaterThan(before);
    await roundsPass(ping, during + 20);
    const list = await control<{ name: string; state: string }[]>({ op: "list" });
    for (const name of ["ping", "pong", "attacker"])
      expect(list.find((d) => d.name === name)?.state, name).toMatch(/^[-rb]+$/);
    expect(stage.host.hv.domains.get(0)?.state).toBe("running");
    await control({ op: "xenstore-write", path: `/local/domain/${ping}/data/stop`, value: "1" });
    const stopped = await phase<{ rounds: number; failures: number; errors: string[] }>("ping", "stopped");
    expect(stopped).toMatchObject({ failures: 0, errors: [] });
    expect(stopped.rounds).toBeGreaterThan(during);
  });
});
