/**
 * The guest's HTTP/1.1 server and client (src/net/http/) between two TCP stacks on the in-memory
 * wire (helpers/tcp-wire.ts): the server on b (10.0.0.2:80), clients on a. Raw requests are written
 * byte for byte and responses read back with a parser of this file's own, so the server is judged
 * by what it puts on the wire: keep-alive reuse (one connection for many requests), pipelining in
 * order, 400/413/414/431 with the connection closed after, Connection: close, HTTP/1.0 with and
 * without keep-alive, chunked bodies, HEAD, the idle timeout, and the client's reuse and retry.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { TcpSocket } from "../src/net/stack/stack.ts";
import {
  HttpClient,
  httpGet,
  serveHttp,
  type HttpHandler,
  type HttpService,
  type ServeOptions,
} from "../src/net/http/index.ts";
import { tcpWire } from "./helpers/tcp-wire.ts";

let wire: ReturnType<typeof tcpWire> | undefined;
let service: HttpService | undefined;
afterEach(() => {
  service?.close();
  service = undefined;
  wire?.close();
  wire = undefined;
});

const enc = new TextEncoder();
const dec = new TextDecoder();

/** An echo of what the server saw, as JSON, for every request. */
const echo: HttpHandler = (req) => ({
  headers: { "content-type": "application/json", "x-path": req.path },
  body: JSON.stringify({
    method: req.method,
    path: req.path,
    query: req.query,
    version: req.version,
    body: req.text(),
  }),
});

function start(handler: HttpHandler = echo, o: ServeOptions = {}) {
  wire = tcpWire();
  service = serveHttp(wire.b.tcp.listen(80), handler, o);
  return wire;
}

const connect = () => wire!.a.tcp.connect("10.0.0.2", 80);
const passiveOpens = () => wire!.b.stats().counters["tcp.passive-opens"] ?? 0;

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Responses from `sock`, parsed here independently of the code under test: Content-Length framing,
 * as this server always frames them (`head`: the next response answers a HEAD, no body).
 */
class Responses {
  private text = "";
  private eof = false;
  constructor(private readonly sock: TcpSocket) {}

  async next(n = 1, o: { head?: boolean } = {}): Promise<Parsed[]> {
    const out: Parsed[] = [];
    while (out.length < n) {
      const end = this.text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const [statusLine, ...lines] = this.text.slice(0, end).split("\r\n");
        const headers: Record<string, string> = {};
        for (const l of lines)
          headers[l.slice(0, l.indexOf(":")).toLowerCase()] = l.slice(l.indexOf(":") + 1).trim();
        const length = o.head ? 0 : Number(headers["content-length"] ?? 0);
        if (this.text.length >= end + 4 + length) {
          out.push({
            status: Number(statusLine!.split(" ")[1]),
            headers,
            body: this.text.slice(end + 4, end + 4 + length),
          });
          this.text = this.text.slice(end + 4 + length);
          continue;
        }
      }
      if (!(await this.more()))
        throw new Error(`closed after ${out.length} of ${n} responses: ${JSON.stringify(this.text)}`);
    }
    return out;
  }

  /** Whether the server's FIN comes next, with no more bytes before it. */
  async closedNext(): Promise<boolean> {
    return this.text === "" && !(await this.more());
  }

  private async more(): Promise<boolean> {
    if (this.eof) return false;
    const chunk = await this.sock.read();
    if (chunk === null) return !(this.eof = true);
    this.text += dec.decode(chunk);
    return true;
  }
}

describe("HTTP/1.1 server and client", () => {
  it("answers many requests on one kept-alive connection", async () => {
    start();
    const client = new HttpClient({ net: { connect: (a, p) => wire!.a.tcp.connect(a, p) } });
    for (let i = 0; i < 20; i++) {
      const r = await client.get(`http://10.0.0.2/n/${i}?q=${i}`);
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({ method: "GET", path: `/n/${i}`, query: `q=${i}`, version: "1.1", body: "" });
      expect(r.headers["content-length"]).toBe(String(r.body.length));
      expect(r.headers["server"]).toBe("pvkit");
      expect(r.headers["date"]).toMatch(
        /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/,
      );
    }
    expect(client.stats()).toEqual({ connects: 1, requests: 20, reused: 19, retried: 0 });
    expect(passiveOpens()).toBe(1);
    expect(service!.stats()).toMatchObject({
      connections: 1,
      open: 1,
      requests: 20,
      statuses: { "200": 20 },
    });
    client.close();
  });

  it("answers pipelined requests in order, however the bytes are cut", async () => {
    // The first request is slow: the later ones, already received, must wait for it.
    start(async (req) => {
      if (req.path === "/slow") await new Promise((r) => setTimeout(r, 20));
      return { body: `${req.path} ${req.text()}` };
    });
    const sock = await connect();
    const requests =
      "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" +
      "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
      "GET /third HTTP/1.1\r\nHost: x\r\n\r\n" +
      "\r\n" + // an empty line between requests is skipped (RFC 9112 2.2)
      "GET /fourth HTTP/1.1\nHost: x\n\n"; // bare LF line ends are accepted
    // All of it in one write, then the same again one byte per write.
    await sock.write(requests);
    const bytes = enc.encode(requests);
    for (let i = 0; i < bytes.length; i++) await sock.write(bytes.subarray(i, i + 1));
    const responses = await new Responses(sock).next(8);
    expect(responses.map((r) => r.body)).toEqual([
      ...["/slow ", "/post hello", "/third ", "/fourth "],
      ...["/slow ", "/post hello", "/third ", "/fourth "],
    ]);
    expect(passiveOpens()).toBe(1);
  });

  it("refuses a malformed request with 400 and closes", async () => {
    start();
    // Each with the reason the body gives.
    for (const [bad, why] of [
      ["GARBAGE\r\n\r\n", "bad request line"],
      ["GET /x HTTP/1.1\r\nHost : x\r\n\r\n", 'bad header name "Host "'], // whitespace before the colon
      ["GET /x HTTP/1.1\r\n\r\n", "without Host"],
      ["GET /x HTTP/1.1\r\nHost: x\r\n Folded: y\r\n\r\n", "obsolete line folding"],
      ["GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "both"],
      ["POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"],
      ["POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\n", "bad Content-Length"],
      ["GET x HTTP/1.1\r\nHost: x\r\n\r\n", "bad request target"],
      ["GET /x HTTP/1.1\r\nHost: a\x01b\r\n\r\n", "a control character in Host"],
      ["GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "more than one Host"],
    ]) {
      const sock = await connect();
      await sock.write(bad + "GET /never HTTP/1.1\r\nHost: x\r\n\r\n");
      const r = new Responses(sock);
      const [res] = await r.next();
      expect(res!.status, bad).toBe(400);
      expect(res!.body, bad).toContain(why);
      expect(res!.headers["connection"]).toBe("close");
      expect(await r.closedNext(), bad).toBe(true); // the request after it is not answered
    }
    expect(service!.stats().statuses).toEqual({ "400": 10 });
  });

  it("414 for a request line over 8 KiB, 431 for headers over 16 KiB, 413 for a body over 1 MiB", async () => {
    start();
    const cases: [string, number][] = [
      [`GET /${"a".repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
      [`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(17 * 1024)}\r\n\r\n`, 431],
      [
        `GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 101 }, (_, i) => `X-${i}: y\r\n`).join("")}\r\n`,
        431,
      ],
      [`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${(1 << 20) + 1}\r\n\r\n`, 413],
      ["GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505],
      ["POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
    ];
    for (const [req, status] of cases) {
      const sock = await connect();
      await sock.write(req);
      const r = new Responses(sock);
      const [res] = await r.next();
      expect(res!.status).toBe(status);
      expect(res!.headers["connection"]).toBe("close");
      expect(await r.closedNext()).toBe(true);
    }
    // Just under the limits is fine.
    const sock = await connect();
    await sock.write(`GET /${"a".repeat(8000)} HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(16000)}\r\n\r\n`);
    expect((await new Responses(sock).next())[0]!.status).toBe(200);
  });

  it("honours Connection: close from the client and from the handler", async () => {
    start((req) =>
      req.path === "/bye" ? { headers: { Connection: "close" }, body: "bye" } : { body: "hi" },
    );
    const sock = await connect();
    await sock.write(
      "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    const r = new Responses(sock);
    expect((await r.next()).map((x) => [x.body, x.headers["connection"]])).toEqual([["hi", "close"]]);
    expect(await r.closedNext()).toBe(true);

    const other = await connect();
    await other.write("GET /bye HTTP/1.1\r\nHost: x\r\n\r\n");
    const r2 = new Responses(other);
    expect((await r2.next())[0]!.headers["connection"]).toBe("close");
    expect(await r2.closedNext()).toBe(true);

    // A client that asks for no keep-alive opens one connection per request.
    const client = new HttpClient(
      { net: { connect: (a, p) => wire!.a.tcp.connect(a, p) } },
      { keepAlive: false },
    );
    for (let i = 0; i < 3; i++) expect((await client.get("http://10.0.0.2/")).text()).toBe("hi");
    expect(client.stats().connects).toBe(3);
    expect(passiveOpens()).toBe(5);
  });

  it("closes HTTP/1.0 connections unless the client asks for keep-alive", async () => {
    start();
    const plain = await connect();
    await plain.write("GET /a HTTP/1.0\r\n\r\n"); // no Host needed in 1.0
    const r = new Responses(plain);
    const [res] = await r.next();
    expect(JSON.parse(res!.body)).toMatchObject({ path: "/a", version: "1.0" });
    expect(res!.headers["connection"]).toBe("close");
    expect(await r.closedNext()).toBe(true);

    const kept = await connect();
    await kept.write("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const k = new Responses(kept);
    expect((await k.next())[0]!.headers["connection"]).toBe("keep-alive");
    await kept.write("GET /b HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    expect(JSON.parse((await k.next())[0]!.body)).toMatchObject({ path: "/b" });
    expect(passiveOpens()).toBe(2);
  });

  it("reads chunked and Content-Length bodies; answers HEAD without a body", async () => {
    start();
    const sock = await connect();
    await sock.write(
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n" +
        "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n" +
        "PUT /l HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    );
    const r = new Responses(sock);
    expect(JSON.parse((await r.next())[0]!.body)).toMatchObject({ method: "POST", body: "hello, world" });
    // The HEAD response: the GET's length, no body; the PUT's answer follows straight after.
    const [head] = await r.next(1, { head: true });
    expect(head!.status).toBe(200);
    expect(Number(head!.headers["content-length"])).toBeGreaterThan(0);
    expect(JSON.parse((await r.next())[0]!.body)).toMatchObject({ method: "PUT", body: "abc" });
  });

  it("answers Expect: 100-continue before reading the body", async () => {
    start();
    const sock = await connect();
    await sock.write("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    const interim = dec.decode((await sock.read())!);
    expect(interim).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    await sock.write("data");
    expect(JSON.parse((await new Responses(sock).next())[0]!.body)).toMatchObject({ body: "data" });
  });

  it("a handler's exception is a 500 and the connection goes on", async () => {
    const errors: unknown[] = [];
    start(
      (req) => {
        if (req.path === "/boom") throw new Error("boom");
        if (req.path === "/split") return { headers: { "x-bad": "a\r\nInjected: yes" } };
        return { body: "fine" };
      },
      { onError: (e) => errors.push(e) },
    );
    const sock = await connect();
    await sock.write(
      "GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /split HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    const r = await new Responses(sock).next(3);
    expect(r.map((x) => x.status)).toEqual([500, 500, 200]);
    expect(r[1]!.headers["injected"]).toBeUndefined();
    expect(errors).toHaveLength(2);
  });

  it("closes a connection idle past the timeout (408 if a request had begun)", async () => {
    start(echo, { idleTimeoutMs: 100 });
    const idle = await connect();
    await idle.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const r = new Responses(idle);
    expect((await r.next())[0]!.status).toBe(200);
    expect(await r.closedNext()).toBe(true); // the server's FIN, after 100 ms of nothing
    const partial = await connect();
    await partial.write("GET / HTTP/1.1\r\nHost: x\r\n");
    const r2 = new Responses(partial);
    expect((await r2.next())[0]!.status).toBe(408);
    expect(await r2.closedNext()).toBe(true);
    expect(service!.stats().idleClosed).toBe(2);
  });

  it("the client sends a request again when its kept connection was closed by the server", async () => {
    start(echo, { idleTimeoutMs: 50 });
    const client = new HttpClient(
      { net: { connect: (a, p) => wire!.a.tcp.connect(a, p) } },
      { idleTimeoutMs: 60_000 },
    );
    expect((await client.get("http://10.0.0.2/1")).status).toBe(200);
    // The server closes the idle connection; its FIN reaches the pooled socket.
    while (service!.stats().open > 0) await new Promise((r) => setTimeout(r, 10));
    expect((await client.get("http://10.0.0.2/2")).status).toBe(200);
    expect(client.stats().connects).toBe(2);
    client.close();
  });

  it("httpGet: one request on a connection of its own; bad URLs are refused in one line", async () => {
    start((req) => ({ status: req.path === "/missing" ? 404 : 200, body: req.path }));
    const k = { net: { connect: (a: string, p: number) => wire!.a.tcp.connect(a, p) } };
    const r = await httpGet(k, "http://10.0.0.2:80/here?x");
    expect([r.status, r.statusText, r.text()]).toEqual([200, "OK", "/here"]);
    expect((await httpGet(k, "http://10.0.0.2/missing")).status).toBe(404);
    await expect(httpGet(k, "https://10.0.0.2/")).rejects.toThrow("https is not supported");
    await expect(httpGet(k, "http://example.com/")).rejects.toThrow("not an http://<IPv4 address>");
    await expect(httpGet(k, "http://10.0.0.2:81/")).rejects.toThrow(/ECONNREFUSED/);
  });

  it("the client reads chunked and close-delimited responses", async () => {
    wire = tcpWire();
    const server = wire.b.tcp.listen(8080);
    void (async () => {
      for await (const s of server) {
        void (async () => {
          let got = "";
          for await (const c of s) {
            got += dec.decode(c);
            if (!got.includes("\r\n\r\n")) continue;
            if (got.startsWith("GET /chunked")) {
              await s.write(
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
              );
              await s.write("3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
              got = "";
            } else {
              await s.write("HTTP/1.0 200 OK\r\n\r\nuntil the end");
              await s.end();
            }
          }
        })().catch(() => {});
      }
    })();
    const client = new HttpClient({ net: { connect: (a, p) => wire!.a.tcp.connect(a, p) } });
    expect((await client.get("http://10.0.0.2:8080/chunked")).text()).toBe("abcdefg");
    expect((await client.get("http://10.0.0.2:8080/chunked")).text()).toBe("abcdefg");
    expect(client.stats().connects).toBe(1);
    // A response framed by the close: the connection is not kept, the next request opens another.
    const r = await client.get("http://10.0.0.2:8080/close");
    expect([r.version, r.text()]).toEqual(["1.0", "until the end"]);
    expect((await client.get("http://10.0.0.2:8080/chunked")).text()).toBe("abcdefg");
    expect(client.stats()).toEqual({ connects: 2, requests: 4, reused: 2, retried: 0 });
    client.close();
  });
});
