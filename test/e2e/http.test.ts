/**
 * The web server guest (examples/http-server.ts) against real clients.
 *
 * 1. Two guests on one bridge: the server, and test/guests/http-client.ts fetching its page 100
 *    times with one HttpClient — one TCP connection for all of them, every answer 200 and the page.
 * 2. A real peer, over the VXLAN uplink to a Linux vxlan link in a network namespace (made by
 *    vxlan-peer.ts): Linux's `ping` reaches the guest; the real `curl` fetches the page and
 *    /stats with two URLs on one connection (`%{num_connects}` adds up to 1), then 200 more, while
 *    `pvkit capture` records the bridge and tshark finds nothing malformed, no expert error and no
 *    TCP analysis flag (no retransmission, loss, duplicate ACK, zero window...) and every TCP
 *    checksum good; and the guest client fetches from a node:http server in the namespace, again
 *    on one connection.
 *
 * Linux leaves the checksums of TCP it sends over a virtual link for an offload to finish, and a
 * vxlan link carries them out unfinished (docs/network.md, The VXLAN uplink): the guest's stack
 * checks every checksum and would drop those segments, so the namespace turns checksum offload off
 * on its vxlan link (`ethtool -K pvx0 tx off`), as the docs advise. Part 2 needs CAP_NET_ADMIN,
 * ip, ethtool, ping and curl; it is skipped with the reason without them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO, e2eStage } from "./stage.ts";
import { captureCli } from "./capture-cli.ts";
import { tshark, tsharkMissing } from "./tshark.ts";
import { makeVxlanPeer, vxlanPeerMissing, type VxlanPeer } from "./vxlan-peer.ts";

const stage = e2eStage("pvkit-e2e-http-");
const SERVER = join(REPO, "examples/http-server.ts");
const CLIENT = join(REPO, "test/guests/http-client.ts");

async function create(name: string, kernel: string, vif: string, extra = ""): Promise<void> {
  const file = join(stage.dir, `${name}.cfg`);
  const config =
    `name = "${name}"\nkernel = "${kernel}"\nmemory = 32\n` + `vif = ['${vif}']\nextra = "${extra}"\n`;
  await stage.control({ op: "create", config, file });
}

interface ClientReport {
  ok: number;
  statuses: Record<string, number>;
  connects: number;
  reused: number;
  retried: number;
  bodies: Record<string, number>;
  sample: string;
  ms: number;
  perSecond: number;
  server?: {
    address: string;
    http: { connections: number; requests: number; statuses: Record<string, number> };
    tcp: { state: string; remoteAddress: string }[];
    dropped: Record<string, number>;
  };
}

describe("the web server guest and a guest client on one bridge", { timeout: 120_000 }, () => {
  it("100 fetches over one kept-alive connection, every one the page", async () => {
    await create("www", SERVER, "mac=00:16:3e:00:50:01, bridge=brhttp, ip=10.0.0.80");
    await stage.console("www", "", /http-server: serving http:\/\/10\.0\.0\.80:80\//);
    await create(
      "wget",
      CLIENT,
      "mac=00:16:3e:00:50:02, bridge=brhttp, ip=10.0.0.81",
      "url=http://10.0.0.80/ count=100 stats=/stats",
    );
    const r = await stage.phase<ClientReport>("wget", "done");
    expect([r.ok, r.statuses]).toEqual([100, { "200": 100 }]);
    // One connection: the first request opened it, the 99 others and the /stats fetch reused it.
    expect([r.connects, r.reused, r.retried]).toEqual([1, 100, 0]);
    expect(r.bodies).toEqual({ "Hello from www": 100 });
    expect(r.sample).toMatch(/^<!doctype html>/);
    expect(r.sample).toContain("<b>10.0.0.80:80</b>");
    expect(r.sample).toMatch(/you are 10\.0\.0\.81:\d+/);
    // The server saw it the same way: one connection, still open, 100 pages before this /stats.
    expect(r.server!.address).toBe("10.0.0.80/24");
    expect(r.server!.http).toMatchObject({ connections: 1, requests: 100, statuses: { "200": 100 } });
    expect(r.server!.tcp.filter((c) => c.state === "ESTABLISHED")).toMatchObject([
      { remoteAddress: "10.0.0.81" },
    ]);
    expect(r.server!.dropped["tcp.bad-checksum"]).toBeUndefined();
    console.log(`guest to guest: 100 requests in ${r.ms} ms (${r.perSecond} requests/s) on one connection`);
  });
});

// ---- a real peer over the VXLAN uplink ----

// Its own tag and subnet, apart from net-uplink.test.ts's peer (test files run in parallel).
const PLAN = { tag: "h", subnet: 253, vni: 43 };
const BRIDGE = "brhx";

/** Why part 2 cannot run here. */
const why = vxlanPeerMissing(PLAN.tag, [
  ["ethtool", ["--version"], "ethtool"],
  ["curl", ["--version"], "curl"],
  ["ping", ["-V"], "iputils-ping"],
]);

describe.skipIf(why !== undefined)(
  "the web server guest and a real peer over the uplink",
  { timeout: 180_000 },
  () => {
    let peer: VxlanPeer | undefined;
    // The guests go first, so no frame is on its way through the uplink when the host closes (a
    // datagram arriving while dom0's worker is being terminated can crash Node 20 in UDPWrap::OnRecv).
    afterAll(async () => {
      for (const domain of ["wget2", "www2"]) await stage.control({ op: "destroy", domain }).catch(() => {});
      peer?.remove();
    });
    const tsharkWhy = tsharkMissing();

    /** The namespace, the veth pair and the vxlan link, and the bridge's uplink to it. */
    async function linkUp(): Promise<VxlanPeer> {
      peer = await makeVxlanPeer(PLAN);
      // Finished checksums on what Linux sends (see the top of this file).
      await peer.exec(["ethtool", "-K", peer.link, "tx", "off"]);
      await stage.control({ op: "network-uplink", bridge: BRIDGE, spec: peer.uplinkSpec });
      return peer;
    }

    it("ping, curl with keep-alive and a clean capture; the guest fetches from node:http", async () => {
      const peer = await linkUp();
      const [GUEST_IP, CLIENT_IP, OVERLAY_HOST] = [peer.guestIp(80), peer.guestIp(81), peer.overlayHost];
      await create("www2", SERVER, `mac=00:16:3e:00:50:11, bridge=${BRIDGE}, ip=${GUEST_IP}`);
      await stage.console("www2", "", /http-server: serving/);

      const ping = await peer.exec(["ping", "-c", "3", "-W", "5", GUEST_IP]);
      expect(ping).toMatch(/3 packets transmitted, 3 received, 0% packet loss/);

      const pcap = join(stage.dir, "http.pcap");
      const cap = tsharkWhy === undefined ? captureCli(stage.host.socket, [BRIDGE, pcap]) : undefined;
      await cap?.started;

      // Two URLs on one command line: curl keeps the connection for the second.
      const page = join(stage.dir, "page.html");
      const stats = join(stage.dir, "stats.json");
      const out = await peer.exec([
        "curl",
        ...["-sS", "--max-time", "30", "-w", "%{num_connects} %{http_code}\\n"],
        ...["-o", page, `http://${GUEST_IP}/`, "-o", stats, `http://${GUEST_IP}/stats`],
      ]);
      expect(out.trim().split("\n")).toEqual(["1 200", "0 200"]);
      const html = readFileSync(page, "utf8");
      expect(html).toContain("<h1>Hello from www2</h1>");
      expect(html).toContain(`<b>${GUEST_IP}:80</b>`);
      expect(html).toContain(`you are ${OVERLAY_HOST}:`);
      const s = JSON.parse(readFileSync(stats, "utf8")) as NonNullable<ClientReport["server"]>;
      expect(s.http).toMatchObject({ connections: 1, requests: 1 });
      expect(s.dropped["tcp.bad-checksum"]).toBeUndefined();

      // 200 more on one connection, timed: curl's URL globbing makes one transfer per URL.
      const t0 = performance.now();
      const many = await peer.exec([
        "curl",
        "-sS",
        "--max-time",
        "60",
        "-o",
        "/dev/null",
        "-w",
        "%{num_connects} %{http_code}\\n",
        `http://${GUEST_IP}/?n=[1-200]`,
      ]);
      const ms = performance.now() - t0;
      const rows = many.trim().split("\n");
      expect(rows).toHaveLength(200);
      expect(rows.filter((r) => r.endsWith(" 200"))).toHaveLength(200);
      expect(rows.reduce((n, r) => n + Number(r.split(" ")[0]), 0)).toBe(1);
      console.log(
        `curl: 200 requests in ${Math.round(ms)} ms (${Math.round((200 * 1000) / ms)} requests/s, one connection, curl's start included)`,
      );

      if (cap) {
        expect((await cap.interrupt()).code).toBe(0);
        // Nothing malformed, no expert error or warning, no TCP analysis flag at all.
        expect(await tshark(["-r", pcap, "-Y", "_ws.malformed || _ws.expert.severity >= 6291456"])).toBe("");
        expect(await tshark(["-r", pcap, "-Y", "tcp.analysis.flags"])).toBe("");
        const sums = await tshark([
          ...["-r", pcap, "-o", "tcp.check_checksum:TRUE", "-Y", "tcp"],
          ...["-T", "fields", "-e", "tcp.checksum.status"],
        ]);
        const statuses = sums.split("\n").filter((l) => l !== "");
        expect(statuses.length).toBeGreaterThan(400);
        const bad = statuses.filter((x) => x !== "1");
        // Seen once in a full run (one segment of 400, no analysis flag): say which, whole.
        if (bad.length > 0) {
          const which = ["-o", "tcp.check_checksum:TRUE", "-Y", "tcp.checksum.status != 1", "-V", "-x"];
          console.log(`bad TCP checksums in ${pcap}:\n${await tshark(["-r", pcap, ...which])}`);
        }
        expect(bad).toEqual([]);
        const requests = await tshark([
          "-r",
          pcap,
          "-Y",
          "http.request",
          "-T",
          "fields",
          "-e",
          "http.request.uri",
        ]);
        expect(requests.trim().split("\n")).toHaveLength(202);
      } else console.warn(`capture not checked: ${tsharkWhy}`);

      // The other way: a node:http server in the namespace, the guest client fetching from it.
      const script = `
      let connections = 0;
      const server = require("node:http").createServer((req, res) => res.end("hello from the host " + req.url));
      server.keepAliveTimeout = 30000;
      server.on("connection", () => console.log(JSON.stringify({ connections: ++connections })));
      server.listen(0, "${OVERLAY_HOST}", () => console.log(JSON.stringify({ port: server.address().port })));`;
      const host = peer.spawn([process.execPath, "-e", script]);
      try {
        let hostOut = "";
        const port = await new Promise<number>((resolve, reject) => {
          host.stdout.on("data", (b: Buffer) => {
            hostOut += b.toString();
            const m = /"port":(\d+)/.exec(hostOut);
            if (m) resolve(Number(m[1]));
          });
          host.once("exit", (code) => reject(new Error(`the node:http server exited (${code}): ${hostOut}`)));
        });
        await create(
          "wget2",
          CLIENT,
          `mac=00:16:3e:00:50:12, bridge=${BRIDGE}, ip=${CLIENT_IP}`,
          `url=http://${OVERLAY_HOST}:${port}/hi count=50`,
        );
        const r = await stage.phase<ClientReport>("wget2", "done");
        expect([r.ok, r.connects, r.reused, r.retried]).toEqual([50, 1, 49, 0]);
        expect(r.bodies).toEqual({ "hello from the host /hi": 50 });
        expect(hostOut).toContain('{"connections":1}');
        expect(hostOut).not.toContain('{"connections":2}');
        console.log(`guest to node:http: 50 requests in ${r.ms} ms (${r.perSecond} requests/s)`);
      } finally {
        const exited = new Promise((r) => host.once("exit", r));
        host.kill();
        await exited;
      }
    });
  },
);

if (why !== undefined) {
  describe("the web server guest and a real peer over the uplink", () => {
    it.skip(`skipped: ${why}`, () => {});
  });
}
