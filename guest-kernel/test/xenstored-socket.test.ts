import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as X from "../src/dom0/xenstored/abi.ts";
import { Xenstored } from "../src/dom0/xenstored/index.ts";
import { Framer, encodeMsg, type XsMsg } from "../src/dom0/xenstored/wire.ts";

const dir = mkdtempSync(join(tmpdir(), "xenstored-test-"));
const sock = join(dir, "socket");
const logs: string[] = [];
const xs = new Xenstored({ quota: { socketBacklogBytes: 256 * 1024 }, log: (l) => logs.push(l) });

beforeAll(() => xs.listen(sock));
afterAll(async () => {
  await xs.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw xs_wire client over the socket. */
class RawClient {
  readonly sock: Socket;
  private readonly framer = new Framer();
  private readonly got: XsMsg[] = [];
  private waiter?: () => void;
  closed = false;

  constructor() {
    this.sock = connect(sock);
    this.sock.on("data", (b: Buffer) => {
      this.framer.push(new Uint8Array(b));
      for (let f = this.framer.next(); f?.kind === "msg"; f = this.framer.next()) this.got.push(f.msg);
      this.waiter?.();
    });
    this.sock.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
    this.sock.on("error", () => undefined);
  }

  /** The next message, or undefined once the server closed us. */
  async next(): Promise<XsMsg | undefined> {
    while (this.got.length === 0 && !this.closed) await new Promise<void>((r) => (this.waiter = r));
    return this.got.shift();
  }

  async call(type: number, payload: string, reqId = 1): Promise<{ type: number; text: string }> {
    this.sock.write(encodeMsg(type, reqId, 0, Buffer.from(payload, "latin1")));
    for (;;) {
      const m = await this.next();
      if (!m) throw new Error("connection closed");
      if (m.type !== X.XS_WATCH_EVENT)
        return { type: m.type, text: Buffer.from(m.payload).toString("latin1") };
    }
  }
}

describe("the socket transport", { timeout: 30_000 }, () => {
  it("answers malformed requests with errors and keeps the connection", async () => {
    const c = new RawClient();
    // An unknown type is ENOSYS (Xen's process_message); the connection carries on.
    expect(await c.call(77, "x\0")).toEqual({ type: X.XS_ERROR, text: "ENOSYS\0" });
    expect(await c.call(X.XS_READ, "/no-nul")).toEqual({ type: X.XS_ERROR, text: "EINVAL\0" });
    expect(await c.call(X.XS_READ, "/bad path\0")).toEqual({ type: X.XS_ERROR, text: "EINVAL\0" });
    expect(await c.call(X.XS_WRITE, "/s/ok\0v")).toEqual({ type: X.XS_WRITE, text: "OK\0" });
    expect(await c.call(X.XS_READ, "/s/ok\0")).toEqual({ type: X.XS_READ, text: "v" });
    c.sock.destroy();
  });

  it("drops a client that sends a length over XENSTORE_PAYLOAD_MAX, as Xen does; others carry on", async () => {
    const bad = new RawClient();
    const h = new DataView(new ArrayBuffer(16));
    h.setUint32(0, X.XS_READ, true);
    h.setUint32(4, 9, true);
    h.setUint32(12, 4097, true);
    bad.sock.write(new Uint8Array(h.buffer));
    expect(await bad.next()).toBeUndefined(); // closed without a reply
    const good = new RawClient();
    expect((await good.call(X.XS_READ, "/s/ok\0")).text).toBe("v");
    good.sock.destroy();
  });

  it("random byte streams never crash the server; another client is served meanwhile", async () => {
    const good = new RawClient();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }),
        fc.boolean(),
        async (chunks, framed) => {
          const bad = new RawClient();
          for (const ch of chunks) {
            // Half the runs wrap the garbage in a plausible header, to reach the handlers.
            const bytes = framed ? encodeMsg(ch[0] ?? 0, 1, ch[1] ?? 0, ch.subarray(2)) : ch;
            bad.sock.write(bytes);
          }
          const r = await good.call(X.XS_READ, "/s/ok\0");
          expect(r.text).toBe("v");
          bad.sock.destroy();
        },
      ),
      { numRuns: 60 },
    );
    // A truncated header followed by close is just a short-lived client.
    const t = new RawClient();
    t.sock.end(new Uint8Array([1, 0, 0]));
    expect((await good.call(X.XS_DIRECTORY, "/s\0")).text).toBe("ok\0");
    expect(logs.filter((l) => l.includes("BUG"))).toEqual([]);
    good.sock.destroy();
  });

  it("a client that never reads its watch events is cut off at the backlog bound", async () => {
    const lazy = new RawClient();
    // Events carry path and token only: a long token makes each one about 1 KiB.
    expect((await lazy.call(X.XS_WATCH, `/flood\0${"t".repeat(1000)}\0`)).text).toBe("OK\0");
    lazy.sock.pause(); // stop reading: the kernel buffers fill, then ours
    const before = process.memoryUsage().rss;
    const value = "x";
    const cut = () => logs.some((l) => l.includes("unread; disconnecting"));
    for (let i = 0; i < 3000 && !cut(); i++) {
      xs.write(`/flood/k${i % 50}`, value);
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(cut()).toBe(true);
    // Its client side sees the connection end once it reads again.
    lazy.sock.resume();
    for (let i = 0; i < 100 && !lazy.closed; i++) await new Promise((r) => setTimeout(r, 10));
    expect(lazy.closed).toBe(true);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
    const good = new RawClient();
    expect((await good.call(X.XS_READ, "/s/ok\0")).text).toBe("v");
    good.sock.destroy();
  });

  it("a client that pipelines requests without reading replies is paused, not buffered without end", async () => {
    const greedy = new RawClient();
    greedy.sock.pause();
    xs.write("/s/big", "y".repeat(4000));
    const req = encodeMsg(X.XS_READ, 1, 0, Buffer.from("/s/big\0"));
    for (let i = 0; i < 2000; i++) greedy.sock.write(req);
    await new Promise((r) => setTimeout(r, 300));
    const conn = xs.connections().find((c) => c.stats.requests > 100 && c.label.startsWith("socket"));
    // Served until its unread replies filled the socket, then paused: far fewer than it sent.
    expect(conn?.stats.requests ?? 0).toBeLessThan(2000);
    const good = new RawClient();
    expect((await good.call(X.XS_READ, "/s/ok\0")).text).toBe("v");
    good.sock.destroy();
    greedy.sock.destroy();
  });
});
