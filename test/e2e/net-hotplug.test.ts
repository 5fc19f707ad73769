/**
 * Network interfaces into and out of a running guest, as `xl network-attach` / `network-detach` do
 * it: the toolstack writes the vif's directories, netback plugs it into its bridge, the guest's
 * kernel (which follows device/vif) connects it as eth0, and its program pings a peer through it;
 * detach asks the guest to let go, both ends close, the port leaves the bridge and the directories
 * go. A vif attached to a running domain is in the config its reboot uses, as libxl keeps it. Every
 * mistake is one line.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BridgeRow, DomainRecord } from "@pvkit/abi/toolstack-protocol";
import { REPO, e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-net-hotplug-");
const BRIDGE = "brhot";

/** The node's value, or undefined when xenstore has no such node. */
const read = (path: string) =>
  stage.control<string>({ op: "xenstore-read", path }).catch((e: Error) => {
    if (/no such node/.test(e.message)) return undefined;
    throw e;
  });

async function create(name: string, kernel: string, lines: string): Promise<number> {
  const file = join(stage.dir, `${name}.cfg`);
  const config = `name = "${name}"\nkernel = "${join(REPO, kernel)}"\nmemory = 16\n${lines}`;
  writeFileSync(file, config);
  return (await stage.control<{ domid: number }>({ op: "create", config, file })).domid;
}

/** The domain ids on the bridge's ports. */
async function portsOf(bridge: string): Promise<number[]> {
  const rows = await stage.control<BridgeRow[]>({ op: "network-list" });
  return rows.find((b) => b.name === bridge)?.ports.map((p) => p.domid) ?? [];
}

/** Resolves with `name`'s domain id once it differs from `old` (a reboot made a new domain). */
async function reborn(name: string, old: number): Promise<number> {
  for (;;) {
    const d = (await stage.control<{ name: string; domid: number }[]>({ op: "list" })).find(
      (x) => x.name === name,
    );
    if (d && d.domid !== old) return d.domid;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("network hotplug (pvkit network-attach / network-detach)", { timeout: 120_000 }, () => {
  it("a vif attached to a running guest carries its pings, detaches cleanly, and survives a reboot", async () => {
    await create(
      "nhpeer",
      "test/guests/ip-host.ts",
      `vif = ['mac=00:16:3e:00:2f:01, ip=10.0.2.1, bridge=${BRIDGE}']\n`,
    );
    await stage.console("nhpeer", "", /ip-host: ready/);
    const domid = await create("nhot", "test/guests/nic-hotplug.ts", `extra = "peer-ip=10.0.2.1"\n`);
    expect(await stage.phase("nhot", "ready")).toMatchObject({ nics: [] });

    const attach = await stage.pvkit(["network-attach", "nhot", `bridge=${BRIDGE}, ip=10.0.2.2`]);
    expect(attach.err).toBe("");
    expect(attach.code).toBe(0);
    const [devid, mac] = attach.out.trim().split(" ");
    expect(devid).toBe("0");
    expect(mac).toMatch(/^00:16:3e(:[0-9a-f]{2}){3}$/);
    expect(await stage.phase("nhot", "attached1")).toEqual({
      phase: "attached1",
      mac,
      address: "10.0.2.2",
      received: 3,
    });
    const list = await stage.pvkit(["network-list", "nhot"]);
    expect(list.out).toContain(mac);
    expect(list.out).toContain(BRIDGE);
    expect(await portsOf(BRIDGE)).toContain(domid);

    expect(await stage.pvkit(["network-detach", "nhot", "0"])).toMatchObject({ code: 0, err: "" });
    const gone = await stage.phase<{ after: string; nics: string[] }>("nhot", "detached1");
    expect(gone.nics).toEqual([]);
    expect(gone.after).toMatch(/eth0: not connected/);
    expect(await read(`/local/domain/0/backend/vif/${domid}/0`)).toBeUndefined();
    expect(await read(`/local/domain/${domid}/device/vif/0`)).toBeUndefined();
    expect(await portsOf(BRIDGE)).not.toContain(domid);
    const log = await stage.console("nhot", "", /netfront: eth0: detached/);
    expect(log).not.toMatch(/left granted/);

    // Again, with a MAC of our choosing; then a reboot, which brings the vif back with the domain.
    // As with xl, the spec may come as several arguments.
    const again = await stage.pvkit([
      "network-attach",
      "nhot",
      "mac=00:16:3e:00:2f:09",
      `bridge=${BRIDGE}`,
      "ip=10.0.2.9",
    ]);
    expect(again).toMatchObject({ code: 0, out: "0 00:16:3e:00:2f:09\n", err: "" });
    expect(await stage.phase("nhot", "attached2")).toMatchObject({ mac: "00:16:3e:00:2f:09", received: 3 });
    const records = await stage.control<DomainRecord[]>({ op: "list-long" });
    expect(records.find((r) => r.domid === domid)?.config?.vif).toEqual([
      { devid: 0, mac: "00:16:3e:00:2f:09", bridge: BRIDGE, ip: "10.0.2.9" },
    ]);
    await stage.control({ op: "reboot", domain: "nhot" });
    const next = await reborn("nhot", domid);
    expect(await stage.phase("nhot", "attached1")).toMatchObject({
      mac: "00:16:3e:00:2f:09",
      address: "10.0.2.9",
      received: 3,
    });

    // By MAC, forced: the directories go at once and the guest's netfront follows.
    expect(await stage.pvkit(["network-detach", "-f", "nhot", "00:16:3E:00:2F:09"])).toMatchObject({
      code: 0,
      err: "",
    });
    expect(await stage.phase("nhot", "detached1")).toMatchObject({ nics: [] });
    expect(await read(`/local/domain/0/backend/vif/${next}/0`)).toBeUndefined();
    expect(await portsOf(BRIDGE)).not.toContain(next);
  });

  it("a detach whose domain is destroyed while it waits says so", async () => {
    const domid = await create(
      "nhpaused",
      "test/guests/idle.ts",
      `vif = ['mac=00:16:3e:00:2f:31, bridge=${BRIDGE}']\n`,
    );
    await stage.console("nhpaused", "", /netfront: eth0: 00:16:3e:00:2f:31/);
    // Paused, the guest cannot answer: the detach waits.
    expect(await stage.pvkit(["pause", "nhpaused"])).toMatchObject({ code: 0 });
    const detach = stage.pvkit(["network-detach", "nhpaused", "0"]);
    while ((await read(`/local/domain/0/backend/vif/${domid}/0/online`)) !== "0")
      await new Promise((r) => setTimeout(r, 20));
    expect(await stage.pvkit(["destroy", "nhpaused"])).toMatchObject({ code: 0 });
    const r = await detach;
    expect([r.code, r.err.trim()]).toEqual([
      1,
      "pvkit: network-detach nhpaused 0: the domain shut down, rebooted or was destroyed while it waited",
    ]);
  });

  it("says in one line what is wrong", async () => {
    await create("nherrs", "test/guests/idle.ts", `vif = ['mac=00:16:3e:00:2f:21, bridge=${BRIDGE}']\n`);
    const cases: [string[], string][] = [
      [["network-attach", "nosuch", `bridge=${BRIDGE}`], `pvkit: no domain "nosuch"`],
      [
        ["network-attach", "0", `bridge=${BRIDGE}`],
        "pvkit: that is dom0: operate the host with `pvkit up`'s process instead",
      ],
      [
        ["network-attach", "nherrs", "bridge=brhot, colour=red"],
        `pvkit: network-attach nherrs: unknown vif key "colour"`,
      ],
      [
        ["network-attach", "nherrs", "mac=00:16:3e:00:2f, bridge=brhot"],
        `pvkit: network-attach nherrs: "00:16:3e:00:2f" is not a MAC address`,
      ],
      [
        ["network-attach", "nherrs", "mac=00:16:3e:00:2f:21, bridge=brhot"],
        "pvkit: network-attach nherrs: 00:16:3e:00:2f:21 is already the MAC of its vif 0",
      ],
      [["network-detach", "nherrs", "7"], "pvkit: network-detach nherrs 7: vif 7 is not attached"],
      [
        ["network-detach", "nherrs", "eth0"],
        `pvkit: network-detach nherrs eth0: "eth0" is neither a device id (0, 1, ...) nor a MAC address`,
      ],
      [
        ["network-detach", "nherrs", "00:16:3e:00:2f:99"],
        "pvkit: network-detach nherrs 00:16:3e:00:2f:99: no vif has the MAC 00:16:3e:00:2f:99",
      ],
    ];
    for (const [args, err] of cases) {
      const r = await stage.pvkit(args);
      expect([r.code, r.err.trim()], args.join(" ")).toEqual([1, err]);
    }
  });
});
