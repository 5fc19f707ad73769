/**
 * Packet capture and network-list against a real host: guests exchange raw frames (net-peer.ts) and
 * real ARP and IPv4/UDP (net-udp.ts talking to net-echo.ts) on one bridge while `pvkit capture`
 * records the bridge until Ctrl-C and a second capture records one domain's first 10 frames and
 * stops by itself. tshark then reads both files: every frame there, the protocols dissected, none
 * malformed, the UDP checksums good. network-list shows the vifs as xl does with their counters,
 * the bridges with their ports, and the guest's shell shows its interface with ifconfig.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ControlClient } from "@pvkit/hypervisor/cli/client";
import { REPO, e2eStage } from "./stage.ts";
import { captureCli } from "./capture-cli.ts";
import { malformedFrames, protocolHierarchy, tsharkMissing, udpChecksums } from "./tshark.ts";

const stage = e2eStage("pvkit-e2e-capture-");
const BRIDGE = "brcap";

async function create(name: string, kernel: string, mac: string, extra: string): Promise<void> {
  const c = await ControlClient.open(stage.host.socket);
  try {
    const file = join(stage.dir, `${name}.cfg`);
    const config =
      `name = "${name}"\nkernel = "${kernel}"\nmemory = 16\n` +
      `vif = ['mac=${mac}, bridge=${BRIDGE}']\nextra = "${extra}"\n`;
    await c.request({ op: "create", config, file });
  } finally {
    c.close();
  }
}

const capture = (args: string[]) => captureCli(stage.host.socket, args);

const frames = (out: string) => Number(/^(\d+) frames? captured/m.exec(out)?.[1] ?? NaN);

describe("capture and network-list", { timeout: 120_000 }, () => {
  const tsharkWhy = tsharkMissing();

  it("bad targets and files are refused in one line", async () => {
    await create("echo1", join(REPO, "test/guests/net-echo.ts"), "00:16:3e:00:0c:12", "ip=10.9.0.12");
    const nobody = await stage.pvkit(["capture", "nobody", join(stage.dir, "x.pcap")]);
    expect(nobody.code).toBe(1);
    expect(nobody.err).toBe("pvkit: capture nobody: no bridge or domain of that name\n");
    const nodir = await stage.pvkit(["capture", BRIDGE, join(stage.dir, "no/such/x.pcap")]);
    expect(nodir.code).toBe(1);
    expect(nodir.err).toMatch(
      /^pvkit: capture brcap: cannot write .*no\/such\/x\.pcap: no such directory\n$/,
    );
    const count = await stage.pvkit(["capture", BRIDGE, "x.pcap", "--count", "0"]);
    expect(count.err).toBe('pvkit: capture: --count: "0" is not a whole number from 1 up\n');
    // --seconds ends a capture by itself, with a whole (here perhaps empty) pcap file.
    const timed = join(stage.dir, "timed.pcap");
    const secs = await stage.pvkit(["capture", BRIDGE, timed, "--seconds", "0.2"]);
    expect(secs.code).toBe(0);
    expect(secs.out).toMatch(new RegExp(`^\\d+ frames? captured \\(\\d+ bytes\\) in ${timed}\n$`));
    expect(readFileSync(timed).subarray(0, 4).toString("hex")).toBe("d4c3b2a1");
    const list = await stage.pvkit(["network-list", "nobody"]);
    expect(list.code).toBe(1);
    expect(list.err).toBe('pvkit: network-list nobody: no domain "nobody"\n');
  });

  it.skipIf(tsharkWhy !== undefined)(
    "captures a bridge until Ctrl-C and a domain until its count; tshark reads both clean",
    async () => {
      const all = join(stage.dir, "bridge.pcap");
      const mine = join(stage.dir, "echo1.pcap");
      const bridgeCap = capture([BRIDGE, all]);
      const domainCap = capture(["echo1", mine, "--count", "10"]);
      await Promise.all([bridgeCap.started, domainCap.started]);

      const peer = join(REPO, "test/guests/net-peer.ts");
      const [a, b] = ["00:16:3e:00:0c:0a", "00:16:3e:00:0c:0b"];
      await Promise.all([
        // hold=1: the pair stays up once done, so their consoles are there to read whenever the
        // three creates have all returned (without it a fast pair could power off before that).
        create("pa", peer, a, `peer=${b} count=300 hold=1`),
        create("pb", peer, b, `peer=${a} count=300 hold=1`),
        create(
          "udp1",
          join(REPO, "test/guests/net-udp.ts"),
          "00:16:3e:00:0c:11",
          "ip=10.9.0.11 peer-ip=10.9.0.12 count=8",
        ),
      ]);
      const done = (name: string) => stage.phase<Record<string, number>>(name, "done");
      const [ra, rb, ru] = await Promise.all([done("pa"), done("pb"), done("udp1")]);
      for (const r of [ra, rb]) expect(r).toMatchObject({ sent: 300, received: 300, bad: 0 });
      expect(ru).toMatchObject({ sent: 8, echoed: 8, bad: 0 });

      const d = await domainCap.exited; // stopped by itself at 10 frames
      expect(d.code).toBe(0);
      expect(frames(d.out)).toBe(10);
      const r = await bridgeCap.interrupt(); // the user's Ctrl-C, to the foreground group
      expect(r.code).toBe(0);
      const n = frames(r.out);
      expect(n).toBeGreaterThan(600);

      const phs = await protocolHierarchy(all);
      expect(phs.get("eth")).toBe(n);
      expect(phs.get("eth:arp")).toBeGreaterThanOrEqual(2);
      expect(phs.get("eth:ip:udp")).toBeGreaterThanOrEqual(16);
      expect(await malformedFrames(all)).toEqual([]);
      const [good, bad] = await udpChecksums(all);
      expect([good >= 16, bad]).toEqual([true, 0]);
      expect((await protocolHierarchy(mine)).get("eth")).toBe(10);
      expect(await malformedFrames(mine)).toEqual([]);
    },
  );

  it("network-list shows a domain's vifs as xl does, and every bridge with its ports", async () => {
    await create("lister", join(REPO, "test/guests/net-echo.ts"), "00:16:3e:00:0c:21", "ip=10.9.0.21");
    const r = await stage.pvkit(["network-list", "lister"]);
    expect(r.err).toBe("");
    const [head, row] = r.out.trim().split("\n");
    expect(head).toMatch(
      /^Idx\s+BE\s+Mac Addr\.\s+handle\s+state\s+evt-ch\s+tx-\/rx-ring-ref\s+BE-path\s+bridge\s+link\s+mtu\s+tx-frames\s+tx-bytes\s+rx-frames\s+rx-bytes\s+drops\s+errors$/,
    );
    // drops may be more than 0: frames flooded to it before its netfront posted receive buffers.
    expect(row).toMatch(
      /^0\s+0\s+00:16:3e:00:0c:21\s+0\s+4\s+\d+\s+\d+\/\d+\s+\/local\/domain\/0\/backend\/vif\/\d+\/0\s+brcap\s+up\s+1500(\s+\d+){4}\s+\d+\s+0$/,
    );
    // echo1 answered udp1's ARP request and echoed its 8 datagrams (after the capture test).
    const json = JSON.parse((await stage.pvkit(["network-list", "echo1", "--json"])).out) as {
      counters: { txFrames: number; rxFrames: number; txErrors: number };
    }[];
    if (tsharkWhy === undefined) {
      expect(json[0]!.counters.txFrames).toBeGreaterThanOrEqual(9);
      expect(json[0]!.counters.rxFrames).toBeGreaterThanOrEqual(9);
    }
    expect(json[0]!.counters.txErrors).toBe(0);

    const bridges = await stage.pvkit(["network-list"]);
    expect(bridges.out).toMatch(/^Bridge\s+ports\s+MACs\s+frames\s+flooded\s+Port\s+dom\s+Address/);
    expect(bridges.out).toMatch(/^brcap\s+\d+\s+\d+\s+\d+\s+\d+$/m);
    expect(bridges.out).toMatch(/^\s+vif\d+\.0\s+\d+\s+00:16:3e:00:0c:21\s+\d+/m);
  });

  it("the guest's shell shows its interface with ifconfig", async () => {
    await create("sh1", join(REPO, "examples/guests/shell.ts"), "00:16:3e:00:0c:31", "");
    const out = await stage.console("sh1", "ifconfig\n", /TX packets[^\n]*\n/);
    expect(out).toMatch(/eth0: flags=<UP,BROADCAST,RUNNING,MULTICAST>\s+mtu 1500\s+link up/);
    expect(out).toMatch(/ether 00:16:3e:00:0c:31\s+queues 1/);
    expect(out).toMatch(/RX packets \d+\s+bytes \d+\s+errors 0\s+dropped \d+/);
    expect(out).toMatch(/TX packets \d+\s+bytes \d+\s+errors 0\s+refused 0/);
    const bad = await stage.console("sh1", "ifconfig eth7\n", /ifconfig: eth7[^\n]*\n/);
    expect(bad).toMatch(/ifconfig: eth7: no such interface/);
  });
});
