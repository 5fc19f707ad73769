/**
 * The guest kernel's TCP between real guests on dom0's bridge (test/guests/tcp-sender.ts toward
 * test/guests/tcp-sink.ts, addresses from each vif's `ip=`):
 *
 * - 100 MiB over one connection: the stream (tcp-pattern.ts) is made and hashed in the sender,
 *   hashed again as it arrives in the sink, and both SHA-256s must equal node:crypto's of the same
 *   stream made here. The rate is printed (MiB/s, timed in the guests).
 * - 100 connections at once, each echoing its own message: all come back exact.
 * - The shell (a guest running examples/guests/shell.ts): `nc` to the sink's echo port, `netstat`
 *   and `netstat -s` afterwards, and `nc` to a closed port.
 * - A capture of the bridge (`pvkit capture`) during an 8 MiB transfer, read by tshark: nothing
 *   malformed, every TCP checksum good, no expert error.
 * - 20 MiB through a bridge that loses 1% of frames and holds back another 1% (`network-impair`,
 *   set before the guests boot): the hashes still agree, the sender counted retransmissions, and
 *   the capture has no expert error and only the TCP analysis flags loss explains (and flow
 *   control's), and no ACK acknowledges a byte the capture did not carry (tcp-acks.ts, exact where
 *   tshark's own flag for it guesses). 20 MiB rather than 100 because loss makes TCP without SACK several times slower:
 *   each loss halves the congestion window, and one that fast retransmit cannot repair (too few
 *   segments in flight for three duplicate ACKs) waits out a retransmission timeout of 200 ms or
 *   more. 1% of 20 MiB is ~150 losses — recovery shown many times over — in seconds (1-5 MiB/s
 *   seen here), where 100 MiB could take a minute and more on a loaded machine.
 *
 * The guests' SHA-256 (guest-kernel/src/lib/sha256.ts) is checked here first against node's, on
 * the lengths where padding changes shape.
 *
 * Every wait is on a guest's report line; the timeouts only guard against a hang.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BridgeRow } from "@pvkit/abi/toolstack-protocol";
import { REPO, e2eStage } from "./stage.ts";
import { asData, malformedFrames, tshark, tsharkMissing } from "./tshark.ts";
import { captureCli } from "./capture-cli.ts";
import { acksOfUnseenData } from "./tcp-acks.ts";
import { PatternStream } from "../guests/tcp-pattern.ts";
import { Sha256 } from "@pvkit/guest-kernel/lib/sha256";

const stage = e2eStage("pvkit-e2e-tcp-");
const CLEAN = "brtcp";
const LOSSY = "brtcplo";

async function create(name: string, kernel: string, bridge: string, vif: string, extra = ""): Promise<void> {
  const file = join(stage.dir, `${name}.cfg`);
  const config =
    `name = "${name}"\nkernel = "${join(REPO, kernel)}"\nmemory = 16\n` +
    `vif = ['${vif}, bridge=${bridge}']\nextra = "${extra}"\n`;
  await stage.control({ op: "create", config, file });
}

const sink = (name: string, bridge: string, mac: string, ip: string) =>
  create(name, "test/guests/tcp-sink.ts", bridge, `mac=${mac}, ip=${ip}`);
const sender = (name: string, bridge: string, mac: string, ip: string, extra: string) =>
  create(name, "test/guests/tcp-sender.ts", bridge, `mac=${mac}, ip=${ip}`, extra);

/**
 * The wait for a guest's report line. stage.phase gives up after 30 s unless told; a transfer on a
 * loaded machine may take longer, so this guard is longer than any test's own timeout, which is
 * what ends a hang.
 */
const REPORT_GUARD = { timeoutMs: 240_000 };

/** node:crypto's SHA-256 of the first `mib` MiB of the pattern. */
function patternHash(mib: number): string {
  const h = createHash("sha256");
  const p = new PatternStream();
  const buf = new Uint8Array(1 << 20);
  for (let i = 0; i < mib; i++) h.update(p.fill(buf));
  return h.digest("hex");
}

interface Stats {
  counters: Record<string, number>;
  dropped: Record<string, number>;
}
interface Received {
  bytes: number;
  sha256: string;
  ms: number;
  mibPerSecond: number;
}
type Sent = Received & { stats: Stats };

/** Both ends' reports of a transfer from `from` (at `fromIp`) to the sink `to`; `from` is then destroyed. */
async function reports(from: string, fromIp: string, to: string) {
  const [rx, tx] = await Promise.all([
    stage.phase<Received>(to, `received-${fromIp}`, REPORT_GUARD),
    stage.phase<Sent>(from, "sent", REPORT_GUARD),
  ]);
  await stage.control({ op: "destroy", domain: from });
  return { rx, tx };
}

/** The sink's port carries random bytes: tshark is told they are data (tshark.ts, asData). */
const RANDOM_PORTS = asData(5001);

/** `pvkit capture BRIDGE FILE` until Ctrl-C (capture-cli.ts). */
const capture = (bridge: string, file: string) => captureCli(stage.host.socket, [bridge, file]);

/** Frames with an expert item of severity error (0x00800000), as "frame: message". */
async function expertErrors(file: string): Promise<string[]> {
  const out = await tshark([
    ...["-r", file, "-Y", "_ws.expert.severity == 0x00800000"],
    ...["-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message"],
    ...RANDOM_PORTS,
  ]);
  return out.split("\n").filter((l) => l.trim() !== "");
}

/**
 * The TCP analysis flags tshark set, by message ("Duplicate ACK (#3)" counted as "Duplicate ACK"),
 * with how many frames carry each.
 */
async function analysisFlags(file: string): Promise<Record<string, number>> {
  const out = await tshark([
    ...["-r", file, "-Y", "tcp.analysis.flags", "-T", "fields", "-E", "aggregator=|"],
    ...["-e", "_ws.expert.message"],
    ...RANDOM_PORTS,
  ]);
  const flags: Record<string, number> = {};
  for (const line of out.split("\n"))
    for (const m of line.split("|").filter((x) => x.trim() !== "")) {
      const name = m.replace(/ \(#\d+\)$/, "");
      // tshark's chat notes on every SYN, FIN and RST ("Connection establish request (SYN): server
      // port 5001", "This frame initiates the connection closing") come along when such a segment
      // carries a flag: a SYN or FIN sent again after the impairment dropped the first. They name
      // the segment, not a problem.
      if (
        /^(Connection (establish|finish|reset)|This frame (initiates|undergoes) the connection closing)/.test(
          name,
        )
      )
        continue;
      flags[name] = (flags[name] ?? 0) + 1;
    }
  return flags;
}

/**
 * What loss explains, seen by a capture taken where frames enter the bridge (before the impairment
 * drops or holds them): a segment sent again (after three duplicate ACKs or a timeout; spurious
 * when the ACK was what got lost), the duplicate ACKs a hole makes, and tshark's "out-of-order"
 * for a retransmission that follows its original closely.
 */
const LOSS_FLAGS = [
  "This frame is a (suspected) retransmission",
  "This frame is a (suspected) fast retransmission",
  "This frame is a (suspected) spurious retransmission",
  "This frame is a (suspected) out-of-order segment",
  "Duplicate ACK",
];
/**
 * tshark's guess that an ACK covers bytes it never saw. Loss with reordering fools it: a frame the
 * impairment held back fills a hole after go-back-N retransmission resent those bytes cut at other
 * boundaries (seen once in about 30 runs under load, with the exact check below clean). Accepted
 * only because the test asks the exact question itself (acksOfUnseenData).
 */
const ACKED_UNSEEN = "ACKed segment that wasn't captured (common at capture start)";
/**
 * Flow control, there in a bulk transfer with or without loss: the receiver reopening its window
 * as its program reads, and the sender filling what the receiver offered.
 */
const FLOW_FLAGS = ["TCP window update", "TCP window specified by the receiver is now completely full"];

/** TCP checksums tshark verified: [good, bad]. */
async function tcpChecksums(file: string): Promise<[number, number]> {
  const out = await tshark([
    ...["-r", file, "-o", "tcp.check_checksum:TRUE", "-Y", "tcp"],
    ...["-T", "fields", "-e", "tcp.checksum.status"],
  ]);
  const rows = out.split("\n").filter((l) => l.trim() !== "");
  const good = rows.filter((r) => r === "1").length;
  return [good, rows.length - good];
}

describe("the guests' SHA-256", () => {
  it("equals node's for every padding case, fed in uneven pieces", () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 65_537]) {
      const data = new PatternStream().fill(new Uint8Array(n + ((4 - (n % 4)) % 4))).subarray(0, n);
      const h = new Sha256();
      for (let i = 0, step = 1; i < n; i += step, step = (step * 7) % 97)
        h.update(data.subarray(i, i + step));
      expect(h.hex(), `${n} bytes`).toBe(createHash("sha256").update(data).digest("hex"));
    }
  });
});

describe("TCP between guests", { timeout: 120_000 }, () => {
  const tsharkWhy = tsharkMissing();

  it("100 MiB over one connection: both guests' SHA-256 equal node's of the same stream", async () => {
    await Promise.all([
      sink("tcpsink", CLEAN, "00:16:3e:00:2c:01", "10.0.1.1"),
      sender("tcpbulk", CLEAN, "00:16:3e:00:2c:02", "10.0.1.2", "peer=10.0.1.1 mib=100"),
    ]);
    const { rx, tx } = await reports("tcpbulk", "10.0.1.2", "tcpsink");
    const want = patternHash(100);
    expect(rx).toMatchObject({ bytes: 100 * 2 ** 20, sha256: want });
    expect(tx).toMatchObject({ bytes: 100 * 2 ** 20, sha256: want });
    expect(tx.stats.counters["tcp.bytes-acked"]).toBe(100 * 2 ** 20);
    console.log(`TCP, 100 MiB: ${rx.mibPerSecond} MiB/s at the sink (${Math.round(rx.ms)} ms)`);
  });

  it("100 connections at once, each echoing its own message", async () => {
    await sender("tcpecho", CLEAN, "00:16:3e:00:2c:03", "10.0.1.3", "mode=echo peer=10.0.1.1 conns=100");
    const r = await stage.phase<{ conns: number; matched: number; errors: string[]; stats: Stats }>(
      "tcpecho",
      "echoed",
      REPORT_GUARD,
    );
    await stage.control({ op: "destroy", domain: "tcpecho" });
    expect(r).toMatchObject({ conns: 100, matched: 100, errors: [] });
    expect(r.stats.counters["tcp.active-opens"]).toBe(100);
  });

  it("the shell's nc talks to the sink's echo port, and netstat shows what is left", async () => {
    await create("tcpsh", "examples/guests/shell.ts", CLEAN, "mac=00:16:3e:00:2c:05, ip=10.0.1.5");
    await stage.console("tcpsh", "", /dom\d+\$ /);
    // The echo of what we type ends "... hello over tcp"; the sink's answer is a line of its own.
    const nc = await stage.console("tcpsh", "nc 10.0.1.1 7 hello over tcp\n", /\nhello over tcp\r?\n/);
    expect(nc).not.toMatch(/nc: /);
    // nc closed first (its FIN went with the text), so its end waits in TIME_WAIT.
    const ns = await stage.console("tcpsh", "netstat\n", /TIME_WAIT/);
    expect(ns).toMatch(/Proto Recv-Q Send-Q Local Address\s+Foreign Address\s+State/);
    expect(ns).toMatch(/tcp\s+0\s+0 10\.0\.1\.5:\d+\s+10\.0\.1\.1:7\s+TIME_WAIT/);
    const refused = await stage.console("tcpsh", "nc 10.0.1.1 9\n", /nc: [^\n]*\n/);
    expect(refused).toMatch(/nc: ECONNREFUSED: the peer refused the connection/);
    const stats = await stage.console(
      "tcpsh",
      "netstat -s\n",
      /tcp:\r?\n(\s+[^\n]*\n)*?\s+segments-out[^\n]*\n/,
    );
    expect(stats).toMatch(/\s+active-opens\s+2/);
    await stage.control({ op: "destroy", domain: "tcpsh" });
  });

  it("a capture of a transfer is clean for tshark: nothing malformed, checksums good, no expert error", async () => {
    if (tsharkWhy) return console.warn(`capture not checked: ${tsharkWhy}`);
    const pcap = join(stage.dir, "tcp.pcap");
    const cap = capture(CLEAN, pcap);
    await cap.started;
    await sender("tcpcap", CLEAN, "00:16:3e:00:2c:04", "10.0.1.4", "peer=10.0.1.1 mib=8");
    const { rx, tx } = await reports("tcpcap", "10.0.1.4", "tcpsink");
    expect(rx.sha256).toBe(patternHash(8));
    expect(tx.sha256).toBe(rx.sha256);
    const ended = await cap.interrupt();
    expect(ended.code, ended.err).toBe(0);
    expect(await malformedFrames(pcap, RANDOM_PORTS)).toEqual([]);
    const [good, bad] = await tcpChecksums(pcap);
    expect(bad).toBe(0);
    expect(good).toBeGreaterThan((8 * 2 ** 20) / 1460); // every data segment, and the ACKs
    expect(await expertErrors(pcap)).toEqual([]);
    expect(await acksOfUnseenData(pcap, RANDOM_PORTS)).toEqual([]);
  });

  it("20 MiB through 1% loss and 1% reordering: same SHA-256, retransmissions, only loss's flags", async () => {
    await stage.control({
      op: "network-impair",
      bridge: LOSSY,
      loss: 0.01,
      reorder: 0.01,
      duplicate: 0,
      seed: 7,
    });
    const pcap = join(stage.dir, "tcp-lossy.pcap");
    const cap = tsharkWhy ? undefined : capture(LOSSY, pcap);
    await cap?.started;
    await Promise.all([
      sink("tcpsinklo", LOSSY, "00:16:3e:00:2d:01", "10.0.2.1"),
      sender("tcplossy", LOSSY, "00:16:3e:00:2d:02", "10.0.2.2", "peer=10.0.2.1 mib=20"),
    ]);
    const { rx, tx } = await reports("tcplossy", "10.0.2.2", "tcpsinklo");
    const want = patternHash(20);
    expect(rx).toMatchObject({ bytes: 20 * 2 ** 20, sha256: want });
    expect(tx).toMatchObject({ bytes: 20 * 2 ** 20, sha256: want });
    const c = tx.stats.counters;
    const recoveries = (c["tcp.fast-retransmits"] ?? 0) + (c["tcp.retransmit-timeouts"] ?? 0);
    expect(recoveries).toBeGreaterThanOrEqual(20); // ~1% of 14,500 segments were lost
    const bridge = (await stage.control<BridgeRow[]>({ op: "network-list" })).find((b) => b.name === LOSSY)!;
    expect(bridge.dropped).toBeGreaterThan(0);
    expect(bridge.reordered).toBeGreaterThan(0);
    console.log(
      `TCP, 20 MiB through 1% loss + 1% reordering: ${rx.mibPerSecond} MiB/s (${Math.round(rx.ms)} ms); ` +
        `${bridge.dropped} frames dropped, ${bridge.reordered} reordered; the sender's recoveries: ` +
        `${c["tcp.fast-retransmits"] ?? 0} fast retransmits, ${c["tcp.retransmit-timeouts"] ?? 0} timeouts`,
    );

    if (!cap) return console.warn(`capture not checked: ${tsharkWhy}`);
    const ended = await cap.interrupt();
    expect(ended.code, ended.err).toBe(0);
    expect(await malformedFrames(pcap, RANDOM_PORTS)).toEqual([]);
    expect(await expertErrors(pcap)).toEqual([]);
    const flags = await analysisFlags(pcap);
    for (const flag of Object.keys(flags))
      expect([...LOSS_FLAGS, ...FLOW_FLAGS, ACKED_UNSEEN], flag).toContain(flag);
    // tshark's guess at "ACKed unseen" is replaced by the exact question (tcp-acks.ts).
    expect(await acksOfUnseenData(pcap, RANDOM_PORTS)).toEqual([]);
    expect(flags["Duplicate ACK"]).toBeGreaterThan(0);
    expect(
      (flags["This frame is a (suspected) retransmission"] ?? 0) +
        (flags["This frame is a (suspected) fast retransmission"] ?? 0),
    ).toBeGreaterThanOrEqual(recoveries);
  });
});
