/**
 * The VXLAN uplink against Linux's own `vxlan` link: a guest (net-echo.ts: answers ARP for its
 * address, echoes UDP) sits on a bridge whose uplink talks to a vxlan interface the test creates,
 * and a UDP datagram sent by the host's network stack to the guest's address comes back to the
 * sending socket — ARP resolved by the guest, the datagram in through the uplink, the echo out.
 *
 * Linux's vxlan device listens on its own dstport and will not encapsulate towards an address of
 * its own network namespace (it "bypasses" to a local vxlan device instead), so the vxlan link
 * lives in a network namespace reached over a veth pair: exactly the "other machine" the uplink
 * is meant for. Needs CAP_NET_ADMIN (root here); skipped with the reason otherwise. Everything it
 * creates is removed afterwards, pass or fail.
 */
import { execFile, execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ControlClient } from "@pvkit/hypervisor/cli/client";
import type { BridgeRow, UplinkRow } from "@pvkit/abi/toolstack-protocol";
import { REPO, e2eStage } from "./stage.ts";

const tag = process.pid % 10_000;
const NS = `pvkvx${tag}`;
const VETH = [`pvkva${tag}`, `pvkvb${tag}`] as const;
const net = 16 + (process.pid % 200);
const HOST_SIDE = `10.251.${net}.1`; // dom0's end of the veth pair
const LINUX_SIDE = `10.251.${net}.2`; // the namespace's end: the Linux VTEP
const OVERLAY_HOST = `10.252.${net}.1`; // pvx0's address in the namespace
const GUEST_IP = `10.252.${net}.2`;
const VNI = 42;

/** Why the test cannot run here: no `ip`, or no right to make namespaces and links. */
function missing(): string | undefined {
  try {
    execFileSync("ip", ["-V"], { stdio: "pipe" });
  } catch {
    return "iproute2's ip is not installed";
  }
  try {
    // The right to make one is found out by making one (and removing it: the test makes its own).
    execFileSync("ip", ["netns", "add", NS], { stdio: "pipe" });
    execFileSync("ip", ["netns", "del", NS], { stdio: "pipe" });
    return undefined;
  } catch (e) {
    const err = String((e as { stderr?: Buffer }).stderr ?? e);
    return `cannot create a network namespace (needs CAP_NET_ADMIN): ${err.trim()}`;
  }
}

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
const why = missing();

function cleanUp(): void {
  for (const cmd of [
    ["link", "del", VETH[0]],
    ["netns", "del", NS],
  ]) {
    try {
      ip(...cmd);
    } catch {
      // already gone (or never made)
    }
  }
}

describe.skipIf(why !== undefined)("VXLAN uplink to a Linux vxlan link", { timeout: 120_000 }, () => {
  const stage = e2eStage("pvkit-e2e-uplink-");
  afterAll(cleanUp);

  async function control<T>(req: Record<string, unknown>): Promise<T> {
    const c = await ControlClient.open(stage.host.socket);
    try {
      return await c.request<T>(req as never);
    } finally {
      c.close();
    }
  }

  it("a datagram from the host's stack reaches the guest and its echo comes back", async () => {
    // A UDP port free here for dom0's end; Linux's end listens on the same number in its namespace.
    const probe = createSocket("udp4");
    await new Promise<void>((r) => probe.bind(0, () => r()));
    const port = probe.address().port;
    probe.close();

    ip("netns", "add", NS);
    ip("link", "add", VETH[0], "type", "veth", "peer", "name", VETH[1], "netns", NS);
    ip("addr", "add", `${HOST_SIDE}/30`, "dev", VETH[0]);
    ip("link", "set", VETH[0], "up");
    ip("-n", NS, "link", "set", "lo", "up");
    ip("-n", NS, "addr", "add", `${LINUX_SIDE}/30`, "dev", VETH[1]);
    ip("-n", NS, "link", "set", VETH[1], "up");
    // The documented pair of commands (docs/network.md), run in the namespace.
    ip(
      "-n",
      NS,
      "link",
      "add",
      "pvx0",
      "type",
      "vxlan",
      "id",
      `${VNI}`,
      "local",
      LINUX_SIDE,
      "remote",
      HOST_SIDE,
      "dstport",
      `${port}`,
    );
    ip("-n", NS, "link", "set", "pvx0", "up");
    ip("-n", NS, "addr", "add", `${OVERLAY_HOST}/24`, "dev", "pvx0");

    const up = await control<UplinkRow>({
      op: "network-uplink",
      bridge: "brvx",
      spec: `vxlan:${port}:${LINUX_SIDE}:${port}:${VNI}`,
    });
    expect(up).toEqual({
      bridge: "brvx",
      port: `vxlan${VNI}`,
      localPort: port,
      remote: `${LINUX_SIDE}:${port}`,
      vni: VNI,
    });

    const file = join(stage.dir, "echo.cfg");
    const config =
      `name = "vxecho"\nkernel = "${join(REPO, "test/guests/net-echo.ts")}"\nmemory = 16\n` +
      `vif = ['mac=00:16:3e:00:0d:02, bridge=brvx']\nextra = "ip=${GUEST_IP}"\n`;
    await control({ op: "create", config, file });
    await stage.console("vxecho", "", /echo: ready/);

    // The host side: a node process in the namespace sends one datagram to the guest and prints
    // what comes back. Linux resolves the guest's MAC by ARP through the uplink first; the send is
    // repeated each second in case the first was dropped while ARP was in flight (a retry; the
    // process's own limit is only a hang guard).
    const script = `
      const s = require("node:dgram").createSocket("udp4");
      s.bind(0, "${OVERLAY_HOST}", () => {
        const send = () => s.send("hello from the host", 7, "${GUEST_IP}");
        const again = setInterval(send, 1000);
        send();
        s.on("message", (m, from) => {
          console.log(JSON.stringify({ text: m.toString(), from: from.address, port: from.port }));
          clearInterval(again);
          s.close();
        });
      });`;
    const reply = await new Promise<string>((resolve, reject) =>
      execFile(
        "ip",
        ["netns", "exec", NS, process.execPath, "-e", script],
        { timeout: 60_000 },
        (e, out, err) => (e ? reject(new Error(`host side: ${err || e.message}`)) : resolve(out)),
      ),
    );
    expect(JSON.parse(reply)).toEqual({ text: "hello from the host", from: GUEST_IP, port: 7 });

    // The guest saw it come in; the host's neighbour table learned the guest's MAC from its ARP reply.
    const log = await stage.console(
      "vxecho",
      "",
      new RegExp(`echo: udp ${OVERLAY_HOST.replace(/\./g, "\\.")}:\\d+ -> 7 19 bytes`),
    );
    expect(log).toContain("echo: udp");
    expect(ip("-n", NS, "neigh", "show", GUEST_IP, "dev", "pvx0").toString()).toContain("00:16:3e:00:0d:02");
    const bridges = await control<BridgeRow[]>({ op: "network-list" });
    const vx = bridges.find((b) => b.name === "brvx")!.ports.find((p) => p.kind === "vxlan")!;
    expect(vx.counters.txFrames).toBeGreaterThanOrEqual(2); // ARP request and the datagram, at least
    expect(vx.counters.rxFrames).toBeGreaterThanOrEqual(2); // ARP reply and the echo
    expect(vx.counters.txErrors).toBe(0);
  });
});

if (why !== undefined) {
  describe("VXLAN uplink to a Linux vxlan link", () => {
    it.skip(`skipped: ${why}`, () => {});
  });
}
