/**
 * An HTTP/1.1 server over a TcpServer: `serveHttp(await k.net.listen(80), handler, { time: k.time })`
 * answers each request with what `handler` returns.
 *
 * Each connection is one loop: parse the next request from the bytes received, await the handler,
 * write the response, repeat. Requests a client pipelines (several sent before any answer) wait in
 * the receive buffer and are answered in order, because the loop takes the next only after writing
 * the last; a slow handler holds its connection's later requests and nothing else. While a request
 * is being handled the loop does not read, so a client that keeps sending fills our window and waits.
 *
 * Persistence (RFC 9112 9.3): an HTTP/1.1 connection stays open after a response unless either side
 * said `Connection: close`; an HTTP/1.0 one closes unless the client asked for keep-alive (and is
 * told it got it). A connection that sends no request for `idleTimeoutMs` (5 s, as Node's
 * keepAliveTimeout) is closed — with 408 first if a request had begun — on the kernel's clock.
 *
 * Closing is graceful: FIN after the last response, then what the client still sends is read and
 * dropped until its FIN (bounded by the same timeout, then reset). Closing without reading would
 * answer the client's unread bytes with a reset, which may destroy our last response in its
 * receive buffer before it is read (RFC 9112 9.6).
 */
import { ByteBuffer } from "./bytes.ts";
import { hostClock, type HttpClock } from "./clock.ts";
import {
  HttpError,
  hasToken,
  reasonPhrase,
  type HttpHandler,
  type HttpRequest,
  type HttpResponse,
} from "./message.ts";
import { DEFAULT_LIMITS, RequestReader, type RequestLimits } from "./request-reader.ts";
import { CONTINUE, responseBytes } from "./response-writer.ts";
import type { TcpServer, TcpSocket } from "../stack/api.ts";

export interface ServeOptions {
  /** The kernel's clock, `k.time` (idle timeouts, the Date header); setTimeout and Date when left out. */
  time?: HttpClock;
  /** Close a connection that sends no request for this long, in ms (5000). */
  idleTimeoutMs?: number;
  /** The Server header ("pvkit"). */
  serverName?: string;
  limits?: Partial<RequestLimits>;
  /** Told of each exception a handler threw (the client gets 500). */
  onError?(e: unknown, req: HttpRequest): void;
}

export interface HttpServerStats {
  /** Connections accepted so far. */
  connections: number;
  /** Connections open now. */
  open: number;
  /** Requests answered so far (the refused ones included). */
  requests: number;
  /** Responses sent, by status: { "200": 99, "404": 1 }. */
  statuses: Record<string, number>;
  /** Connections closed by the idle timeout. */
  idleClosed: number;
}

export interface HttpService {
  stats(): HttpServerStats;
  /** Stops accepting; idle connections close now, busy ones after their current response. */
  close(): void;
  /** Resolves once closed and every connection has ended. */
  readonly done: Promise<void>;
}

/** What a connection is doing, for the idle watchdog. */
type Phase = "reading" | "busy" | "closing" | "done";

interface Conn {
  phase: Phase;
  /** Ends the connection if it is waiting for a request that has not begun. */
  closeIfIdle(): void;
}

export function serveHttp(server: TcpServer, handler: HttpHandler, o: ServeOptions = {}): HttpService {
  const clock = o.time ?? hostClock;
  const idleMs = o.idleTimeoutMs ?? 5000;
  const limits: RequestLimits = { ...DEFAULT_LIMITS, ...o.limits };
  const serverName = o.serverName ?? "pvkit";
  const conns = new Set<Conn>();
  let closing = false;
  const stats: HttpServerStats = { connections: 0, open: 0, requests: 0, statuses: {}, idleClosed: 0 };
  const count = (status: number) => {
    stats.requests++;
    stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
  };

  async function serveConnection(sock: TcpSocket): Promise<void> {
    const buf = new ByteBuffer();
    const reader = new RequestReader(limits, sock.remoteAddress, sock.remotePort);
    let lastActive = clock.uptimeMs();
    let ending: Promise<void> | undefined;
    const finish = () => (ending ??= sock.end().catch(() => {}));
    const conn: Conn = {
      phase: "reading",
      closeIfIdle: () => {
        if (conn.phase !== "reading" || reader.midRequest || buf.length > 0) return;
        conn.phase = "closing";
        void finish();
      },
    };
    conns.add(conn);

    // The idle watchdog: one sleep at a time, on the kernel's clock, re-armed from the last activity.
    const watchdog = async () => {
      for (;;) {
        const left = lastActive + idleMs - clock.uptimeMs();
        if (left > 0) {
          await clock.sleep(left);
          continue;
        }
        if (conn.phase === "done") return;
        lastActive = clock.uptimeMs();
        if (conn.phase === "busy") continue; // the handler is working: not idle
        if (conn.phase === "closing") return sock.destroy(); // the client never closed its side
        stats.idleClosed++;
        conn.phase = "closing";
        if (reader.midRequest || buf.length > 0) {
          count(408);
          await sock
            .write(errorResponse(new HttpError(408, "no complete request in time"), clock, serverName))
            .catch(() => {});
        }
        void finish();
      }
    };
    void watchdog();

    const respond = async (req: HttpRequest): Promise<boolean> => {
      let res: HttpResponse;
      try {
        res = await handler(req);
      } catch (e) {
        o.onError?.(e, req);
        res = { status: 500, body: "500 Internal Server Error\n" };
      }
      const keepAlive = !closing && wantsKeepAlive(req, res);
      const encode = (r: HttpResponse) =>
        responseBytes(r, {
          method: req.method,
          version: req.version,
          keepAlive,
          date: clock.now(),
          server: serverName,
        });
      let bytes: Uint8Array;
      try {
        bytes = encode(res);
      } catch (e) {
        // The handler's response cannot be written (a bad header, say): a bare 500 instead.
        o.onError?.(e, req);
        res = { status: 500 };
        bytes = encode(res);
      }
      count(res.status ?? 200);
      await sock.write(bytes);
      lastActive = clock.uptimeMs();
      return keepAlive;
    };

    try {
      let eof = false;
      for (;;) {
        let r;
        try {
          r = reader.next(buf);
        } catch (e) {
          if (!(e instanceof HttpError)) throw e;
          // A request we cannot frame: answer why, then close (its end, and the next's start, are unknown).
          conn.phase = "busy";
          count(e.status);
          await sock.write(errorResponse(e, clock, serverName));
          break;
        }
        if (r === undefined) {
          if (eof || conn.phase === "closing") break; // the client's FIN: nothing more will come
          conn.phase = "reading";
          const chunk = await sock.read();
          if ((conn.phase as Phase) === "closing") break; // the watchdog or close() ended it meanwhile
          if (chunk === null) eof = true;
          else {
            buf.push(chunk);
            lastActive = clock.uptimeMs();
          }
          continue;
        }
        conn.phase = "busy";
        if (r.kind === "continue") {
          await sock.write(CONTINUE);
          continue;
        }
        if (!(await respond(r.request))) break;
        if (closing) break;
      }
      conn.phase = "closing";
      await finish();
      while ((await sock.read()) !== null); // drain until the client's FIN
    } catch {
      sock.destroy(); // reset by the peer, or a write after it went away
    } finally {
      conn.phase = "done";
      conns.delete(conn);
      stats.open--;
    }
  }

  const running = new Set<Promise<void>>();
  const done = (async () => {
    for await (const sock of server) {
      stats.connections++;
      stats.open++;
      const p = serveConnection(sock);
      running.add(p);
      void p.finally(() => running.delete(p));
    }
    await Promise.all([...running]);
  })();

  return {
    stats: () => ({ ...stats, statuses: { ...stats.statuses } }),
    close() {
      if (closing) return;
      closing = true;
      server.close();
      for (const c of conns) c.closeIfIdle();
    },
    done,
  };
}

/**
 * RFC 9112 9.3: HTTP/1.1 persists unless "close" is said by either side; HTTP/1.0 persists only
 * when the client asked for "keep-alive".
 */
function wantsKeepAlive(req: HttpRequest, res: HttpResponse): boolean {
  const conn = req.headers["connection"];
  if (hasToken(conn, "close")) return false;
  if (req.version === "1.0" && !hasToken(conn, "keep-alive")) return false;
  for (const [name, value] of Object.entries(res.headers ?? {}))
    if (name.toLowerCase() === "connection" && hasToken(value, "close")) return false;
  return true;
}

function errorResponse(e: HttpError, clock: HttpClock, server: string): Uint8Array {
  return responseBytes(
    {
      status: e.status,
      headers: { "content-type": "text/plain; charset=utf-8" },
      body: `${e.status} ${reasonPhrase(e.status)}: ${e.message}\n`,
    },
    { method: "GET", version: "1.1", keepAlive: false, date: clock.now(), server },
  );
}
