/**
 * An HTTP/1.1 client for guest programs: `await httpGet(k, "http://10.0.0.80/")` gives
 * `{ status, headers, body, text() }`. For many requests, an HttpClient keeps connections alive
 * between them (RFC 9112 9.3): a connection whose response was framed by its length or chunks goes
 * back to a pool, and the next request to the same address and port takes it instead of opening
 * another — one handshake for a hundred requests.
 *
 * A kept connection can be closed by the server at any moment (its idle timeout); a request sent
 * just then finds the connection gone before any answer. Such a request is sent once more on a new
 * connection when it is safe to repeat (GET, HEAD, OPTIONS: RFC 9110 9.2.2's idempotent methods
 * without a body). The client closes its own idle connections after `idleTimeoutMs` (4 s, shorter
 * than the server's usual 5 s so that it is usually the one to close).
 *
 * URLs are `http://<IPv4 address>[:port][/path][?query]`: the guest has no resolver, and no TLS.
 */
import { ByteBuffer, concat, latin1Bytes, utf8 } from "./bytes.ts";
import { hostClock, type HttpClock } from "./clock.ts";
import { isToken } from "./head.ts";
import type { HttpHeaders } from "./message.ts";
import { StaleConnection, readResponse, type HttpClientResponse } from "./response-reader.ts";
import type { TcpSocket } from "../stack/api.ts";

export type { HttpClientResponse } from "./response-reader.ts";

/** What the client needs of the kernel: `k` itself will do (`new HttpClient(k)`). */
export interface HttpClientHost {
  net: { connect(address: string, port: number): Promise<TcpSocket> };
  time?: HttpClock;
}

export interface HttpClientOptions {
  /** Reuse connections (true); false sends `Connection: close` and uses each connection once. */
  keepAlive?: boolean;
  /** Give up on a request when the server sends nothing for this long, in ms (30 000). */
  timeoutMs?: number;
  /** Close a pooled connection unused for this long, in ms (4000). */
  idleTimeoutMs?: number;
  /** Idle connections kept per address and port (8). */
  maxIdlePerHost?: number;
  /** The largest response body accepted (64 MiB). */
  maxBodyBytes?: number;
}

export interface HttpRequestInit {
  headers?: HttpHeaders;
  body?: string | Uint8Array;
}

export interface HttpClientStats {
  /** Connections opened. */
  connects: number;
  requests: number;
  /** Requests that went on a kept-alive connection. */
  reused: number;
  /** Requests sent again because a kept connection turned out closed. */
  retried: number;
}

interface Connection {
  sock: TcpSocket;
  buf: ByteBuffer;
  key: string;
  /** The watchdog acts when the clock passes this: a busy request times out, an idle one is closed. */
  deadline: number;
  busy: boolean;
  gone: boolean;
  timedOut: boolean;
}

interface Url {
  host: string;
  port: number;
  target: string;
  authority: string;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS"]);

/** `http://10.0.0.1:8080/a?b` split up; throws for what this client cannot fetch. */
export function parseHttpUrl(url: string): Url {
  const m = /^http:\/\/(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?([/?][^#\s]*)?(#.*)?$/i.exec(url);
  if (!m) {
    if (/^https:/i.test(url)) throw new Error(`${url}: https is not supported`);
    throw new Error(`${url}: not an http://<IPv4 address>[:port]/path URL`);
  }
  const port = m[2] === undefined ? 80 : Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`${url}: port ${port} is not 1..65535`);
  let target = m[3] ?? "/";
  if (target.startsWith("?")) target = `/${target}`;
  return { host: m[1]!, port, target, authority: m[2] === undefined ? m[1]! : `${m[1]}:${port}` };
}

export class HttpClient {
  private readonly idle = new Map<string, Connection[]>();
  private readonly clock: HttpClock;
  private readonly counts: HttpClientStats = { connects: 0, requests: 0, reused: 0, retried: 0 };

  constructor(
    private readonly host: HttpClientHost,
    private readonly o: HttpClientOptions = {},
  ) {
    this.clock = host.time ?? hostClock;
  }

  stats(): HttpClientStats {
    return { ...this.counts };
  }

  get(url: string, init?: HttpRequestInit): Promise<HttpClientResponse> {
    return this.request("GET", url, init);
  }

  async request(method: string, url: string, init: HttpRequestInit = {}): Promise<HttpClientResponse> {
    if (!isToken(method)) throw new Error(`bad method ${JSON.stringify(method)}`);
    const u = parseHttpUrl(url);
    const bytes = this.requestBytes(method, u, init);
    const repeatable = IDEMPOTENT.has(method) && init.body === undefined;
    this.counts.requests++;
    for (let attempt = 0; ; attempt++) {
      const pooled = this.takeIdle(`${u.host}:${u.port}`);
      let c: Connection;
      try {
        c = pooled ?? (await this.open(u));
      } catch (e) {
        throw new Error(`${url}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (pooled) this.counts.reused++;
      c.busy = true;
      c.deadline = this.clock.uptimeMs() + (this.o.timeoutMs ?? 30_000);
      try {
        await c.sock.write(bytes);
        const { response, reusable } = await readResponse(c.sock, c.buf, method, {
          maxBodyBytes: this.o.maxBodyBytes ?? 64 << 20,
          progress: () => (c.deadline = this.clock.uptimeMs() + (this.o.timeoutMs ?? 30_000)),
        });
        c.busy = false;
        if (reusable && this.o.keepAlive !== false) this.putIdle(c);
        else this.finish(c);
        return response;
      } catch (e) {
        c.gone = true;
        c.sock.destroy();
        if (c.timedOut) throw new Error(`${url}: no answer in ${this.o.timeoutMs ?? 30_000} ms`);
        // A kept connection the server had already closed: send the request again on a new one.
        if (pooled && attempt === 0 && repeatable && (e instanceof StaleConnection || isReset(e))) {
          this.counts.retried++;
          continue;
        }
        throw new Error(`${url}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  /** Closes every idle connection. */
  close(): void {
    for (const list of this.idle.values()) for (const c of list) this.finish(c);
    this.idle.clear();
  }

  private requestBytes(method: string, u: Url, init: HttpRequestInit): Uint8Array {
    const body =
      init.body === undefined ? undefined : typeof init.body === "string" ? utf8(init.body) : init.body;
    let fields = "";
    const given = new Set<string>();
    for (const [name, value] of Object.entries(init.headers ?? {})) {
      if (!isToken(name) || /[\r\n\0]/.test(value)) throw new Error(`bad header ${JSON.stringify(name)}`);
      const lower = name.toLowerCase();
      // The framing is ours to state: a second length would be a request-smuggling hazard.
      if (lower === "content-length" || lower === "transfer-encoding") continue;
      given.add(lower);
      fields += `${name}: ${value}\r\n`;
    }
    let head = `${method} ${u.target} HTTP/1.1\r\n`;
    if (!given.has("host")) head += `Host: ${u.authority}\r\n`;
    head += fields;
    if (!given.has("user-agent")) head += "User-Agent: pvkit-guest\r\n";
    if (this.o.keepAlive === false && !given.has("connection")) head += "Connection: close\r\n";
    if (body !== undefined) head += `Content-Length: ${body.length}\r\n`;
    head += "\r\n";
    return body ? concat([latin1Bytes(head), body]) : latin1Bytes(head);
  }

  private async open(u: Url): Promise<Connection> {
    const sock = await this.host.net.connect(u.host, u.port);
    this.counts.connects++;
    const c: Connection = {
      sock,
      buf: new ByteBuffer(),
      key: `${u.host}:${u.port}`,
      deadline: Infinity,
      busy: false,
      gone: false,
      timedOut: false,
    };
    void this.watch(c);
    return c;
  }

  /** One sleep at a time on the kernel's clock until the connection is gone. */
  private async watch(c: Connection): Promise<void> {
    while (!c.gone) {
      const left = c.deadline - this.clock.uptimeMs();
      if (left > 0) {
        await this.clock.sleep(Math.min(left, this.o.timeoutMs ?? 30_000));
        continue;
      }
      if (c.busy) {
        c.timedOut = true;
        c.sock.destroy(); // the pending read rejects
        return;
      }
      this.dropIdle(c);
      this.finish(c);
    }
  }

  private takeIdle(key: string): Connection | undefined {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const c = list.pop()!;
      // A FIN from the server while the connection sat here: it will not take another request.
      if (c.sock.state === "ESTABLISHED" && c.buf.length === 0) return c;
      this.finish(c);
    }
    return undefined;
  }

  private putIdle(c: Connection): void {
    const list = this.idle.get(c.key) ?? [];
    if (list.length >= (this.o.maxIdlePerHost ?? 8)) return this.finish(c);
    c.deadline = this.clock.uptimeMs() + (this.o.idleTimeoutMs ?? 4000);
    list.push(c);
    this.idle.set(c.key, list);
  }

  private dropIdle(c: Connection): void {
    const list = this.idle.get(c.key);
    const i = list?.indexOf(c) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }

  /** Our FIN; what the server still sends is read and dropped until its own FIN. */
  private finish(c: Connection): void {
    if (c.gone) return;
    c.gone = true;
    void (async () => {
      try {
        await c.sock.end();
        while ((await c.sock.read()) !== null);
      } catch {
        c.sock.destroy();
      }
    })();
    // A server that never closes its side is reset in the end (TIME_WAIT is left to run out).
    void this.clock.sleep(this.o.timeoutMs ?? 30_000).then(() => {
      if (c.sock.state !== "CLOSED" && c.sock.state !== "TIME_WAIT") c.sock.destroy();
    });
  }
}

const isReset = (e: unknown) =>
  e instanceof Error &&
  "code" in e &&
  ((e as { code: string }).code === "ECONNRESET" || (e as { code: string }).code === "EPIPE");

/**
 * One GET. With `o.client` the request goes through that client (and its kept connections);
 * without, on a connection of its own, closed after.
 */
export async function httpGet(
  k: HttpClientHost,
  url: string,
  o: { client?: HttpClient; headers?: HttpHeaders; timeoutMs?: number } = {},
): Promise<HttpClientResponse> {
  if (o.client) return o.client.get(url, { headers: o.headers });
  const client = new HttpClient(k, { keepAlive: false, timeoutMs: o.timeoutMs });
  try {
    return await client.get(url, { headers: o.headers });
  } finally {
    client.close();
  }
}
