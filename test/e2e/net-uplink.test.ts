/**
 * The VXLAN uplink against Linux's own `vxlan` link: a guest (net-echo.ts: answers ARP for its
 * address, echoes UDP) sits on a bridge whose uplink talks to a vxlan interface the test creates,
 * and a UDP datagram sent by the host's network stack to the guest's address comes back to the
 * sending socket — ARP resolved by the guest, the datagram in through the uplink, the echo out.
 *
 * The vxlan link lives in a network namespace reached over a veth pair (vxlan-peer.ts says why).
 * Needs CAP_NET_ADMIN (root here); skipped with the reason otherwise. Everything it creates is
 * removed afterwards, pass or fail.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ControlClient } from "@pvkit/hypervisor/cli/client";
import type { BridgeRow, UplinkRow } from "@pvkit/abi/toolstack-protocol";
import { REPO, e2eStage } from "./stage.ts";
import { makeVxlanPeer, vxlanPeerMissing, type VxlanPeer } from "./vxlan-peer.ts";

// Its own tag and subnet, apart from http.test.ts's peer (test files run in parallel).
const PLAN = { tag: "v", subnet: 251, vni: 42 };
const why = vxlanPeerMissing(PLAN.tag);

describe.skipIf(why !== undefined)("VXLAN uplink to a Linux vxlan link", { timeout: 120_000 }, () => {
  const stage = e2eStage("pvkit-e2e-uplink-");
  let peer: VxlanPeer | undefined;
  afterAll(() => peer?.remove());

  async function control<T>(req: Record<string, unknown>): Promise<T> {
    const c = await ControlClient.open(stage.host.socket);
    try {
      return await c.request<T>(req as never);
    } finally {
      c.close();
    }
  }

  it("a datagram from the host's stack reaches the guest and its echo comes back", async () => {
    peer = await makeVxlanPeer(PLAN);
    const { port, vni, linuxSide, overlayHost } = peer;
    const guestIp = peer.guestIp(2);

    const up = await control<UplinkRow>({ op: "network-uplink", bridge: "brvx", spec: peer.uplinkSpec });
    expect(up).toEqual({
      bridge: "brvx",
      port: `vxlan${vni}`,
      localPort: port,
      remote: `${linuxSide}:${port}`,
      vni,
    });

    const file = join(stage.dir, "echo.cfg");
    const config =
      `name = "vxecho"\nkernel = "${join(REPO, "test/guests/net-echo.ts")}"\nmemory = 16\n` +
      `vif = ['mac=00:16:3e:00:0d:02, bridge=brvx']\nextra = "ip=${guestIp}"\n`;
    await control({ op: "create", config, file });
    await stage.console("vxecho", "", /echo: ready/);

    // The host side: a node process in the namespace sends one datagram to the guest and prints
    // what comes back. Linux resolves the guest's MAC by ARP through the uplink first; the send is
    // repeated each second in case the first was dropped while ARP was in flight (a retry; the
    // process's own limit is only a hang guard).
    const script = `
      const s = require("node:dgram").createSocket("udp4");
      s.bind(0, "${overlayHost}", () => {
        const send = () => s.send("hello from the host", 7, "${guestIp}");
        const again = setInterval(send, 1000);
        send();
        s.on("message", (m, from) => {
          console.log(JSON.stringify({ text: m.toString(), from: from.address, port: from.port }));
          clearInterval(again);
          s.close();
        });
      });`;
    const reply = await peer.exec([process.execPath, "-e", script]);
    expect(JSON.parse(reply)).toEqual({ text: "hello from the host", from: guestIp, port: 7 });

    // The guest saw it come in; the host's neighbour table learned the guest's MAC from its ARP reply.
    const log = await stage.console(
      "vxecho",
      "",
      new RegExp(`echo: udp ${overlayHost.replace(/\./g, "\\.")}:\\d+ -> 7 19 bytes`),
    );
    expect(log).toContain("echo: udp");
    expect(peer.ip("neigh", "show", guestIp, "dev", peer.link)).toContain("00:16:3e:00:0d:02");
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
