/**
 * The shell's netstat and nc against real TCP: the fake kernel handle (helpers/fake-handle.ts)
 * gets stack `a` of two stacks on an in-memory wire (helpers/tcp-wire.ts) as its k.net, and the
 * test plays the peer on stack `b` (10.0.0.2).
 */
import { afterEach, describe, expect, it } from "vitest";
import { builtinCommands } from "../src/shell/commands.ts";
import { runLine } from "../src/shell/shell.ts";
import { formatConnections, formatStats } from "../src/shell/tcp-commands.ts";
import type { TcpSocket } from "../src/net/stack/stack.ts";
import { fakeHandle } from "./helpers/fake-handle.ts";
import { tcpWire } from "./helpers/tcp-wire.ts";

let wire: ReturnType<typeof tcpWire> | undefined;
afterEach(() => {
  wire?.close();
  wire = undefined;
});

/** A fake handle whose k.net is stack a of a fresh wire; `interrupt()` presses Ctrl-C. */
function shellOnWire() {
  const w = (wire = tcpWire());
  const h = fakeHandle();
  h.k.net.ip = async () => w.a;
  const handlers = new Set<() => void>();
  h.k.console.onInterrupt = (f) => (handlers.add(f), () => void handlers.delete(f));
  const run = (line: string) => runLine(line, h.k, builtinCommands());
  return { ...h, a: w.a, b: w.b, run, interrupt: () => handlers.forEach((f) => f()) };
}

const text = new TextDecoder();

async function readAll(s: TcpSocket): Promise<string> {
  let out = "";
  for await (const c of s) out += text.decode(c);
  return out;
}

/** Resolves once `cond` holds, checked after each turn of the event loop (frames move per turn). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setImmediate(r));
}

describe("netstat and nc: usage", () => {
  it("bad arguments print the usage line and touch nothing", async () => {
    const sh = shellOnWire();
    for (const line of [
      "nc",
      "nc -l",
      "nc -l x",
      "nc -l 0",
      "nc -l 70000",
      "nc -l 80 extra",
      "nc 10.0.0.2",
      "nc 10.0.0.2 port",
      "nc -z 10.0.0.2 80",
    ])
      await sh.run(line);
    await sh.run("netstat -x");
    await sh.run("netstat foo");
    await sh.run("netstat -s -t");
    expect(sh.out).toEqual([
      ...Array(9).fill("usage: nc -l PORT | nc ADDR PORT [TEXT...]"),
      ...Array(3).fill("usage: netstat [-tan] | netstat -s"),
    ]);
    expect(sh.a.tcp.connections()).toEqual([]);
  });

  it("no IPv4 address: one line saying so", async () => {
    const h = fakeHandle();
    h.k.net.ip = async () => {
      throw new Error("eth0: no IPv4 address (give the vif ip=... in the domain's config)");
    };
    await runLine("netstat", h.k, builtinCommands());
    await runLine("nc 10.0.0.2 7 hi", h.k, builtinCommands());
    expect(h.out).toEqual([
      "netstat: eth0: no IPv4 address (give the vif ip=... in the domain's config)",
      "nc: eth0: no IPv4 address (give the vif ip=... in the domain's config)",
    ]);
  });
});

describe("netstat", () => {
  it("lays out connections and listeners as netstat -tan does", () => {
    expect(
      formatConnections([
        {
          state: "LISTEN",
          localAddress: "10.0.0.1",
          localPort: 7,
          remoteAddress: "0.0.0.0",
          remotePort: 0,
          recvQ: 0,
          sendQ: 0,
        },
        {
          state: "ESTABLISHED",
          localAddress: "10.0.0.1",
          localPort: 49152,
          remoteAddress: "10.0.0.2",
          remotePort: 5001,
          recvQ: 1234,
          sendQ: 1048576,
        },
      ]),
    ).toEqual([
      "Active Internet connections (servers and established)",
      "Proto Recv-Q Send-Q Local Address           Foreign Address         State",
      "tcp        0      0 10.0.0.1:7              0.0.0.0:*               LISTEN",
      "tcp     1234 1048576 10.0.0.1:49152          10.0.0.2:5001           ESTABLISHED",
    ]);
  });

  it("shows the stack's real listener and connection, with bytes not yet read", async () => {
    const sh = shellOnWire();
    sh.a.tcp.listen(7);
    const server = sh.b.tcp.listen(5001);
    const accepted = server.accept();
    const c = await sh.a.tcp.connect("10.0.0.2", 5001);
    const peer = (await accepted)!;
    await peer.write("12345");
    await until(() => sh.a.tcp.connections().some((r) => r.recvQ === 5));
    await sh.run("netstat -tan");
    expect(sh.out).toEqual([
      "Active Internet connections (servers and established)",
      "Proto Recv-Q Send-Q Local Address           Foreign Address         State",
      "tcp        0      0 10.0.0.1:7              0.0.0.0:*               LISTEN",
      `tcp        5      0 ${`10.0.0.1:${c.localPort}`.padEnd(23)} 10.0.0.2:5001           ESTABLISHED`,
    ]);
  });

  it("-s groups the counters and drops by layer, climbing the stack", async () => {
    expect(
      formatStats({
        counters: { "tcp.segments-in": 3, "eth.in": 9, "ip.in": 8, "zz.thing": 1 },
        dropped: { "tcp.bad-checksum": 2, "eth.not-for-us": 1 },
      }),
    ).toEqual([
      "eth:",
      "    in                             9",
      "    dropped, not-for-us            1",
      "ip:",
      "    in                             8",
      "tcp:",
      "    segments-in                    3",
      "    dropped, bad-checksum          2",
      "zz:",
      "    thing                          1",
    ]);
    expect(formatStats({ counters: {}, dropped: {} })).toEqual(["no packets yet"]);
    const sh = shellOnWire();
    await sh.b.ping("10.0.0.1", { count: 1, intervalMs: 0 });
    await sh.run("netstat -s");
    expect(sh.out).toContain("icmp:");
    expect(sh.out).toContain(`    ${"echo-replies-sent".padEnd(30)} 1`);
  });
});

describe("nc", () => {
  it("ADDR PORT TEXT sends the text and a newline, ends, and prints the answer", async () => {
    const sh = shellOnWire();
    const server = sh.b.tcp.listen(7);
    const served = (async () => {
      const s = (await server.accept())!;
      const got = await readAll(s);
      await s.write(`you said: ${got}`);
      await s.end();
      return got;
    })();
    await sh.run("nc 10.0.0.2 7 hello  there");
    expect(await served).toBe("hello there\n");
    expect(sh.out.join("")).toBe("you said: hello there\n");
  });

  it("ADDR PORT without text sends nothing and prints what the peer sends", async () => {
    const sh = shellOnWire();
    const server = sh.b.tcp.listen(13);
    const served = (async () => {
      const s = (await server.accept())!;
      await s.write("Thu Dec  3 09:00:00 2026\n");
      await s.end();
    })();
    await sh.run("nc 10.0.0.2 13");
    await served;
    expect(sh.out.join("")).toBe("Thu Dec  3 09:00:00 2026\n");
  });

  it("a refused connection is one line", async () => {
    const sh = shellOnWire();
    await sh.run("nc 10.0.0.2 9 anyone");
    expect(sh.out).toEqual(["nc: ECONNREFUSED: the peer refused the connection"]);
    await sh.run("nc 192.168.1.1 9");
    expect(sh.out[1]).toBe(
      "nc: ENETUNREACH: 192.168.1.1: network unreachable (no route outside 10.0.0.1/24)",
    );
  });

  it("-l PORT takes one connection, prints where from and what arrives, and frees the port", async () => {
    const sh = shellOnWire();
    const listening = sh.run("nc -l 8080");
    await until(() => sh.a.tcp.connections().some((r) => r.state === "LISTEN"));
    const c = await sh.b.tcp.connect("10.0.0.1", 8080);
    await c.write("GET / HTTP/1.0\r\n");
    await c.write("\r\n");
    const answer = readAll(c); // nc closes its side once we have
    await c.end();
    await listening;
    expect(await answer).toBe("");
    expect(sh.out[0]).toBe(`nc: connection from 10.0.0.2:${c.localPort}`);
    expect(sh.out.slice(1).join("")).toBe("GET / HTTP/1.0\r\n\r\n");
    expect(sh.a.tcp.connections().filter((r) => r.state === "LISTEN")).toEqual([]);
  });

  it("-l on a port in use says so", async () => {
    const sh = shellOnWire();
    sh.a.tcp.listen(8080);
    await sh.run("nc -l 8080");
    expect(sh.out).toEqual(["nc: EADDRINUSE: port 8080 is already listening"]);
  });

  it("Ctrl-C closes a waiting listener, and resets a live connection without an error line", async () => {
    const sh = shellOnWire();
    const waiting = sh.run("nc -l 8080");
    await until(() => sh.a.tcp.connections().some((r) => r.state === "LISTEN"));
    sh.interrupt();
    await waiting;
    expect(sh.a.tcp.connections()).toEqual([]);

    const server = sh.b.tcp.listen(7);
    const accepted = server.accept();
    const talking = sh.run("nc 10.0.0.2 7 hi");
    const peer = (await accepted)!;
    await until(() => sh.a.tcp.connections().some((r) => r.state === "FIN_WAIT_2"));
    sh.interrupt();
    await talking;
    expect(await peer.closed).toMatchObject({ code: "ECONNRESET" });
    expect(sh.out).toEqual([]);
  });
});
