/**
 * A hostile guest against the guest kernel's TCP, on a real host. The victim (guests/tcp-victim.ts)
 * serves TCP echo on port 7; an honest client (guests/tcp-client.ts) keeps one echo connection
 * busy and opens new connections one after another; the attacker (guests/tcp-attacker.ts) writes
 * raw frames on its NIC: malformed IPv4 and TCP headers, a connection of its own made by hand and
 * then attacked the ways RFC 5961 covers, blind RSTs and SYNs at the client's connection, and a
 * SYN flood of 10,000 from forged addresses and ports.
 *
 * What must hold: every bad header is dropped and counted by its reason; the attacker's own
 * connection answers out-of-window data, a near-miss RST and a SYN with (challenge) ACKs and
 * survives them, and only an exact RST closes it; no blind RST or SYN closes the client's
 * connection; the flood evicts half-open entries (tcp.syn-queue-evicted) while the client's new
 * connections, opened during it, all get through; the client never sees a failed echo; and every
 * domain, dom0 included, is still running at the end.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, e2eStage } from "../e2e/stage.ts";

const stage = e2eStage("pvkit-hostile-tcp-");
const BRIDGE = "brtcpx";
const MAC = { victim: "00:16:3e:0f:00:01", client: "00:16:3e:0f:00:02", attacker: "00:16:3e:0f:00:66" };
const IP = { victim: "10.0.3.1", client: "10.0.3.2", attacker: "10.0.3.66" };

async function create(name: string, kernel: string, vif: string, extra: string): Promise<number> {
  const file = join(stage.dir, `${name}.cfg`);
  const config =
    `name = "${name}"\nkernel = "${join(REPO, kernel)}"\nmemory = 16\n` +
    `vif = ['${vif}, bridge=${BRIDGE}']\nextra = "${extra}"\n`;
  return (await stage.control<{ domid: number }>({ op: "create", config, file })).domid;
}

const read = (path: string) => stage.control<string>({ op: "xenstore-read", path }).then(Number, () => 0);
const write = (path: string, value: string) => stage.control({ op: "xenstore-write", path, value });

/** Reads a counter the client publishes until it passes `n` (the guard only catches a hang). */
async function passes(path: string, n: number): Promise<number> {
  const guard = Date.now() + 60_000;
  for (;;) {
    const v = await read(path);
    if (v > n) return v;
    if (Date.now() > guard) {
      // What the client saw: its failures are printed as they happen (first 2 KiB of the console's end).
      const out = await stage.console("tcpclient", "", /\n$/).catch((e: unknown) => String(e));
      throw new Error(`${path} is stuck at ${v}; the client's console ends:\n${out.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The wait for a guest's report line. stage.phase gives up after 30 s unless told; on a loaded
 * machine the attack takes longer, so this guard is longer than the test's own timeout, which is
 * what ends a hang.
 */
const REPORT_GUARD = { timeoutMs: 240_000 };

interface Stats {
  counters: Record<string, number>;
  dropped: Record<string, number>;
  served: number;
}

describe("TCP against a hostile guest", { timeout: 150_000 }, () => {
  it("drops and counts every bad segment, survives RFC 5961's attacks and a SYN flood, and keeps serving", async () => {
    const victim = await create(
      "tcpvictim",
      "test/hostile/guests/tcp-victim.ts",
      `mac=${MAC.victim}, ip=${IP.victim}`,
      "backlog=1024",
    );
    const client = await create(
      "tcpclient",
      "test/hostile/guests/tcp-client.ts",
      `mac=${MAC.client}, ip=${IP.client}`,
      `victim=${IP.victim}`,
    );
    await stage.phase("tcpvictim", "ready", REPORT_GUARD);
    const { localPort } = await stage.phase<{ localPort: number }>("tcpclient", "running", REPORT_GUARD);
    const home = (domid: number) => `/local/domain/${domid}/data`;
    const conns0 = await passes(`${home(client)}/conns`, 0);

    // The attacker's vif has no ip=: its kernel's stack never starts; it speaks raw frames only.
    const attacker = await create(
      "tcpattacker",
      "test/hostile/guests/tcp-attacker.ts",
      `mac=${MAC.attacker}`,
      `me=${IP.attacker} victim=${IP.victim} victim-mac=${MAC.victim} client=${IP.client}:${localPort}`,
    );
    // Halfway through the flood: wait for the client to open five connections more while the
    // SYNs keep coming, then let the attacker finish.
    await stage.phase("tcpattacker", "flooding", REPORT_GUARD);
    const during = await read(`${home(client)}/conns`);
    await passes(`${home(client)}/conns`, during + 4);
    await write(`${home(attacker)}/go`, "1");
    const done = await stage.phase<{ cases: Record<string, Record<string, unknown>> }>(
      "tcpattacker",
      "done",
      REPORT_GUARD,
    );
    const c = done.cases;

    expect(c["own connection"]).toEqual({
      echo: "hello",
      "out-of-window data: ACK with rcv.nxt": true,
      "RST in window, not exact: challenge ACK": true,
      "SYN in window: challenge ACK": true,
      "ACK of unsent data: ACK back": true,
      "ACK too old: ACK back": true,
      "still echoes": "still here",
      "exact RST closes: data then reset": true,
    });
    expect(c.blind).toEqual({ sent: 2 * 8192 });
    const flood = c.flood as { sent: number; answered: number; gaveUp: number };
    expect(flood.sent).toBeGreaterThanOrEqual(10_000);

    await write(`${home(victim)}/report`, "after");
    const v = await stage.phase<Stats>("tcpvictim", "stats-after", REPORT_GUARD);
    console.log(`victim after the attacks: ${JSON.stringify(v)}`);
    // 1. and 2.: one of each malformed header, dropped for exactly that reason.
    expect(v.dropped).toMatchObject({
      "ip.bad-version": 1,
      "ip.bad-header-length": 1,
      "ip.bad-length": 1,
      "ip.bad-checksum": 1,
      "ip.truncated": 1,
      "tcp.bad-checksum": 1,
      "tcp.bad-offset": 2,
      "tcp.bad-option": 2,
      "tcp.truncated": 1,
    });
    // 3. and 4.: the near misses were challenged, the far ones dropped; the flood evicted.
    const d = v.dropped;
    expect(d["tcp.rst-not-exact"]).toBeGreaterThanOrEqual(2); // ours, and 2^20/2^19 of the blind ones
    expect(d["tcp.syn-in-window"]).toBeGreaterThanOrEqual(2);
    expect(d["tcp.out-of-window"]).toBeGreaterThanOrEqual(2 * 8192 - 8);
    expect(d["tcp.ack-unsent"]).toBe(1);
    expect(d["tcp.ack-too-old"]).toBe(1);
    expect(d["tcp.listen-ack"]).toBeGreaterThanOrEqual(1); // the data after the exact RST
    expect(v.counters["tcp.resets-received"]).toBeGreaterThanOrEqual(1);
    expect(d["tcp.syn-queue-evicted"]).toBeGreaterThanOrEqual(flood.sent - 1024);
    expect(v.counters["tcp.passive-opens"]).toBeGreaterThanOrEqual(flood.sent);

    // The client went on through all of it and goes on after it; then it reports.
    const rounds = await read(`${home(client)}/rounds`);
    await passes(`${home(client)}/rounds`, rounds + 20);
    await write(`${home(client)}/stop`, "1");
    const stopped = await stage.phase<{
      rounds: number;
      failures: number;
      conns: number;
      connFailures: number;
      errors: string[];
    }>("tcpclient", "stopped", REPORT_GUARD);
    expect(stopped).toMatchObject({ failures: 0, connFailures: 0, errors: [] });
    expect(stopped.conns).toBeGreaterThan(conns0 + 4);
    const list = await stage.control<{ name: string; state: string }[]>({ op: "list" });
    for (const name of ["tcpvictim", "tcpclient", "tcpattacker"])
      expect(list.find((x) => x.name === name)?.state, name).toMatch(/^[-rb]+$/);
    expect(stage.host.hv.domains.get(0)?.state).toBe("running");
  });
});
