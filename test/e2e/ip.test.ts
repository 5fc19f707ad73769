/**
 * The guest kernel's IPv4 stack between real guests on one bridge: two guests with `ip=10.0.0.1`
 * and `ip=10.0.0.2` in their vif config ping each other (every reply matched to its probe), a UDP
 * datagram to a closed port comes back as ICMP port unreachable, and malformed or badly
 * checksummed packets sent straight onto the wire are dropped and counted by the host while it
 * goes on answering (test/guests/ip-host.ts, ip-prober.ts). The bridge is captured meanwhile and
 * tshark reads the file: ARP, ICMP and UDP, and nothing malformed beyond the frames spoiled on
 * purpose. A shell guest on the same bridge runs `ping`, `arp` and `ip`.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, e2eStage } from "./stage.ts";
import { captureCli } from "./capture-cli.ts";
import { malformedFrames, protocolHierarchy, tshark, tsharkMissing } from "./tshark.ts";

const stage = e2eStage("pvkit-e2e-ip-");
const BRIDGE = "brip";
const HOST_MAC = "00:16:3e:00:1f:01";

async function create(name: string, kernel: string, vif: string, extra = ""): Promise<void> {
  const file = join(stage.dir, `${name}.cfg`);
  const config =
    `name = "${name}"\nkernel = "${kernel}"\nmemory = 16\n` +
    `vif = ['${vif}, bridge=${BRIDGE}']\nextra = "${extra}"\n`;
  await stage.control({ op: "create", config, file });
}

const capture = (file: string) => captureCli(stage.host.socket, [BRIDGE, file]);

interface Done {
  sent: number;
  received: number;
  lost: number;
  unreachable: { port: number; code: number };
  badSent: number;
  againReceived: number;
  peerDropped: Record<string, number>;
  peerEchoReplies: number;
  myDropped: Record<string, number>;
}

describe("IPv4 between guests", { timeout: 120_000 }, () => {
  const tsharkWhy = tsharkMissing();

  it("ping both ways, port unreachable, bad packets dropped and counted, a clean capture", async () => {
    const pcap = join(stage.dir, "ip.pcap");
    // The bridge exists once a vif names it: create the host, then capture, then let it announce.
    await create("iphost", join(REPO, "test/guests/ip-host.ts"), `mac=${HOST_MAC}, ip=10.0.0.1`);
    const cap = tsharkWhy === undefined ? capture(pcap) : undefined;
    await cap?.started;
    await stage.console("iphost", "", /ip-host: ready on 10\.0\.0\.1\/24/);
    await create(
      "prober",
      join(REPO, "test/guests/ip-prober.ts"),
      "mac=00:16:3e:00:1f:02, ip=10.0.0.2",
      "peer-ip=10.0.0.1 count=50",
    );
    const out = await stage.console("prober", "", /"phase":"done"[^\n]*\n/);
    const line = out.split(/\r?\n/).find((l) => l.includes('"phase":"done"'))!;
    const r = JSON.parse(line.slice(line.indexOf("{"))) as Done;

    expect([r.sent, r.received, r.lost]).toEqual([50, 50, 0]);
    expect(r.unreachable).toEqual({ port: 7, code: 3 });
    expect(r.againReceived).toBe(5);
    expect(r.peerEchoReplies).toBe(55);
    expect(r.peerDropped).toMatchObject({
      "ip.bad-checksum": 1,
      "ip.bad-version": 1,
      "ip.truncated": 1,
      "udp.bad-checksum": 1,
      "icmp.bad-checksum": 1,
      "udp.no-port": 1,
    });
    expect(r.myDropped).toEqual({});

    if (!cap) return console.warn(`capture not checked: ${tsharkWhy}`);
    const c = await cap.interrupt();
    expect(c.code).toBe(0);
    const phs = await protocolHierarchy(pcap);
    expect(phs.get("eth:arp")).toBeGreaterThanOrEqual(3); // the prober's announcement, its request, the reply
    expect(phs.get("eth:ip:icmp")).toBeGreaterThanOrEqual(2 * 55 + 1);
    // The only malformed frame is the 30-byte one whose IPv4 header was cut short on purpose.
    expect(await malformedFrames(pcap)).toHaveLength(1);
    const cut = await tshark(["-r", pcap, "-Y", "_ws.malformed", "-T", "fields", "-e", "frame.len"]);
    expect(cut.trim()).toBe("30");
    // Every ICMP message and UDP datagram the stacks built carries good checksums; the two spoiled
    // on purpose (one IPv4 header, one UDP) are the only bad ones.
    const sums = await tshark([
      ...["-r", pcap, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-Y", "icmp or udp"],
      ...[
        "-T",
        "fields",
        "-e",
        "ip.checksum.status",
        "-e",
        "udp.checksum.status",
        "-e",
        "icmp.checksum.status",
      ],
    ]);
    const rows = sums.split("\n").filter((l) => l.trim() !== "");
    const bad = rows.filter((row) => row.split("\t").some((s) => s === "0"));
    expect(rows.length).toBeGreaterThan(110);
    expect(bad.length).toBe(3); // the IPv4 header, the UDP and the ICMP checksum spoiled on purpose
  });

  it("the shell's ping, arp and ip", async () => {
    await create("ipsh", join(REPO, "examples/guests/shell.ts"), "mac=00:16:3e:00:1f:03, ip=10.0.0.3");
    const ping = await stage.console("ipsh", "ping 10.0.0.1 -c 3\n", /packets transmitted[^\n]*\n/);
    expect(ping).toMatch(/64 bytes from 10\.0\.0\.1: icmp_seq=1 ttl=64 time=\d+\.\d+ ms/);
    expect(ping).toMatch(/3 packets transmitted, 3 received, 0% packet loss/);
    const arp = await stage.console("ipsh", "arp\n", /HWaddress[^\n]*\n[^\n]*\n/);
    expect(arp).toMatch(new RegExp(`10\\.0\\.0\\.1\\s+${HOST_MAC}\\s+eth0\\s+\\d+s`));
    const ip = await stage.console("ipsh", "ip\n", /dropped:[^\n]*\n[^\n]*\n/);
    expect(ip).toMatch(/eth0: inet 10\.0\.0\.3\/24/);
    expect(ip).toMatch(/icmp\.echo-replies-received\s+3/);
    const off = await stage.console("ipsh", "ping 192.168.9.9 -c 1\n", /ping: 192[^\n]*\n/);
    expect(off).toMatch(/ping: 192\.168\.9\.9: network unreachable/);
  });

  it("a guest whose vif has no ip= is told so in one line", async () => {
    await create("noip", join(REPO, "examples/guests/shell.ts"), "mac=00:16:3e:00:1f:04");
    const out = await stage.console("noip", "ping 10.0.0.1\n", /ping: eth0[^\n]*\n/);
    expect(out).toMatch(/ping: eth0: no IPv4 address \(give the vif ip=\.\.\. in the domain's config\)/);
  });
});
