/**
 * The guest kernel's TCP between two stacks on an in-memory wire (helpers/tcp-wire.ts), real
 * timers and the TSO segmentation dom0 uses: the handshake, both directions, an orderly close,
 * bulk transfers checked by SHA-256 with and without loss, reordering and duplication, a full
 * receive window, refusal, reset, and a hundred connections at once.
 */
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { TcpSocket } from "../src/net/stack/stack.ts";
import { tcpWire, type Impairment } from "./helpers/tcp-wire.ts";
import { ACK, RST, SYN, buildTcp } from "../src/net/stack/tcp-segment.ts";
import { IPPROTO_TCP, buildIpv4, parseIp } from "../src/net/stack/ipv4.ts";
import { ETH_P_IP, buildEthernet, parseMac } from "../src/net/stack/ethernet.ts";

let wire: ReturnType<typeof tcpWire> | undefined;
afterEach(() => {
  wire?.close();
  wire = undefined;
});

const text = new TextDecoder();

async function readAll(s: TcpSocket): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c);
  return Buffer.concat(parts);
}

/** Pseudo-random bytes (not all zero: a misplaced segment must change the hash). */
function payload(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Sends `data` from a to b in writes of `chunk` bytes; returns what b read. */
async function transfer(impair: Impairment | undefined, data: Uint8Array, chunk = 100_000) {
  wire = tcpWire({ impair });
  const server = wire.b.tcp.listen(5001);
  const accepted = server.accept();
  const client = await wire.a.tcp.connect("10.0.0.2", 5001);
  const peer = (await accepted)!;
  const received = readAll(peer);
  for (let i = 0; i < data.length; i += chunk) await client.write(data.subarray(i, i + chunk));
  await client.end();
  return { got: await received, client, peer };
}

describe("TCP between two stacks", () => {
  it("opens, carries bytes both ways and closes in order", async () => {
    wire = tcpWire();
    const server = wire.b.tcp.listen(7);
    const echo = (async () => {
      const s = (await server.accept())!;
      for await (const chunk of s) await s.write(chunk);
      await s.end();
    })();
    const c = await wire.a.tcp.connect("10.0.0.2", 7);
    expect(c.state).toBe("ESTABLISHED");
    expect([c.localAddress, c.remoteAddress, c.remotePort]).toEqual(["10.0.0.1", "10.0.0.2", 7]);
    await c.write("hello, ");
    await c.write("world");
    const first = await c.read();
    let got = text.decode(first!);
    while (got.length < 12) got += text.decode((await c.read())!);
    expect(got).toBe("hello, world");
    expect(wire.b.tcp.connections().map((r) => r.state)).toEqual(["LISTEN", "ESTABLISHED"]);
    await c.end();
    expect(await c.read()).toBeNull(); // the echo's FIN
    await echo;
    expect(await c.closed).toBeUndefined();
    // The side that closed first waits in TIME_WAIT; the other is gone.
    expect(c.state).toBe("TIME_WAIT");
    expect(wire.b.tcp.connections().map((r) => r.state)).toEqual(["LISTEN"]);
  });

  it("moves 16 MiB byte-exact, in TSO frames", async () => {
    const data = payload(16 << 20);
    const { got } = await transfer(undefined, data, 1 << 20);
    expect(got.length).toBe(data.length);
    expect(sha(got)).toBe(sha(data));
    const c = wire!.a.stats().counters;
    expect(c["tcp.retransmitted-segments"] ?? 0).toBe(0);
    expect(wire!.stats.frames).toBeGreaterThan((16 << 20) / 1460); // each segment crossed on its own
  }, 60_000);

  it("survives 1% loss, reordering and duplication with the same SHA-256", async () => {
    const data = payload(4 << 20, 11);
    const { got } = await transfer({ loss: 0.01, reorder: 0.01, duplicate: 0.005, seed: 42 }, data);
    expect(sha(got)).toBe(sha(data));
    expect(wire!.stats.dropped).toBeGreaterThan(0);
    const a = wire!.a.stats().counters;
    expect((a["tcp.fast-retransmits"] ?? 0) + (a["tcp.retransmit-timeouts"] ?? 0)).toBeGreaterThan(0);
    expect(wire!.b.stats().counters["tcp.out-of-order"]).toBeGreaterThan(0);
  }, 120_000);

  it("refuses a connection to a closed port with ECONNREFUSED", async () => {
    wire = tcpWire();
    await expect(wire.a.tcp.connect("10.0.0.2", 9)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    expect(wire.b.stats().dropped["tcp.no-socket"]).toBe(1);
  });

  it("times out a connection nobody answers", async () => {
    wire = tcpWire();
    wire.carry(false);
    await expect(wire.a.tcp.connect("10.0.0.2", 80, { timeoutMs: 300 })).rejects.toMatchObject({
      code: "ETIMEDOUT",
    });
  });

  it("tells the peer of destroy() with a reset", async () => {
    wire = tcpWire();
    const server = wire.b.tcp.listen(80);
    const c = await wire.a.tcp.connect("10.0.0.2", 80);
    const s = (await server.accept())!;
    const pending = s.read();
    c.destroy();
    await expect(pending).rejects.toMatchObject({ code: "ECONNRESET" });
    expect((await s.closed)?.code).toBe("ECONNRESET");
    await expect(c.write("x")).rejects.toMatchObject({ code: "ECONNRESET" });
  });

  it("stops a writer at a full window and resumes it when the reader reads", async () => {
    wire = tcpWire();
    const server = wire.b.tcp.listen(80);
    const c = await wire.a.tcp.connect("10.0.0.2", 80);
    const s = (await server.accept())!;
    const data = payload(3 << 20, 3); // more than the receive and send buffers together
    let written = false;
    const writing = c.write(data).then(() => (written = true));
    // Wait until the peer has filled its buffer: the window is zero, the writer still waits.
    const full = (1 << 20) - 2 * 1460; // the last bytes of window may be too few to be worth sending
    while ((wire.b.tcp.connections().find((r) => r.state === "ESTABLISHED")?.recvQ ?? 0) < full)
      await new Promise((r) => setTimeout(r, 10));
    expect(written).toBe(false);
    const ending = writing.then(() => c.end());
    const got = await readAll(s);
    await ending;
    expect(sha(got)).toBe(sha(data));
  }, 60_000);

  it("serves a hundred connections at once", async () => {
    wire = tcpWire();
    const server = wire.b.tcp.listen(7);
    void (async () => {
      for await (const s of server)
        void (async () => {
          for await (const chunk of s) await s.write(chunk);
          await s.end();
        })().catch(() => {}); // reset when the test closes the stacks
    })();
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const c = await wire!.a.tcp.connect("10.0.0.2", 7);
        const msg = payload(1000 + i * 37, i + 1);
        await c.write(msg);
        await c.end();
        return sha(await readAll(c)) === sha(msg);
      }),
    );
    expect(results.every(Boolean)).toBe(true);
    expect(new Set(wire.a.tcp.connections().map((r) => r.localPort)).size).toBe(100);
    server.close();
  }, 60_000);

  it("keeps a connection through blind resets, SYNs, stray data and bad checksums", async () => {
    wire = tcpWire();
    const server = wire.b.tcp.listen(7);
    const c = await wire.a.tcp.connect("10.0.0.2", 7);
    const s = (await server.accept())!;
    // Segments an off-path attacker could send to b, claiming to be a's end of the connection.
    const forge = (seq: number, flags: number, data = new Uint8Array(0), corrupt = false) => {
      const src = parseIp("10.0.0.1");
      const dst = parseIp("10.0.0.2");
      const h = { srcPort: c.localPort, dstPort: 7, seq, ack: 12345, flags, window: 1000 };
      const seg = buildTcp(src, dst, h, data);
      if (corrupt) seg[seg.length - 1]! ^= 0xff;
      const frame = buildEthernet(
        parseMac("00:16:3e:00:00:02"),
        parseMac("00:16:3e:00:00:01"),
        ETH_P_IP,
        buildIpv4(src, dst, IPPROTO_TCP, seg),
      );
      wire!.inject(1, frame);
    };
    for (let i = 0; i < 200; i++) {
      const seq = Math.floor(Math.random() * 2 ** 32);
      forge(seq, RST);
      forge(seq, SYN);
      forge(seq, ACK, new Uint8Array(100).fill(0x41));
      forge(seq, ACK, new Uint8Array(100), true);
    }
    await c.write("still here");
    const got = await s.read();
    expect(new TextDecoder().decode(got!)).toBe("still here");
    expect(s.state).toBe("ESTABLISHED");
    const d = wire.b.stats().dropped;
    expect(d["tcp.bad-checksum"]).toBe(200);
    // Every forged segment was refused by one rule or another, none taken as the peer's.
    const refused =
      (d["tcp.out-of-window"] ?? 0) +
      (d["tcp.rst-not-exact"] ?? 0) +
      (d["tcp.syn-in-window"] ?? 0) +
      (d["tcp.ack-unsent"] ?? 0) +
      (d["tcp.ack-too-old"] ?? 0);
    expect(refused).toBe(600);
  });

  it("opens a new connection over one in TIME_WAIT", async () => {
    wire = tcpWire();
    const server = wire.b.tcp.listen(7);
    const first = await wire.a.tcp.connect("10.0.0.2", 7, { localPort: 40000 });
    const s1 = (await server.accept())!;
    await s1.end(); // the server closes first: its side waits in TIME_WAIT
    expect(await first.read()).toBeNull();
    await first.end();
    await s1.closed;
    expect(s1.state).toBe("TIME_WAIT");
    const second = await wire.a.tcp.connect("10.0.0.2", 7, { localPort: 40000 });
    const s2 = (await server.accept())!;
    await second.write("again");
    expect(new TextDecoder().decode((await s2.read())!)).toBe("again");
    expect(wire.b.stats().counters["tcp.time-wait-reused"]).toBe(1);
  });
});
