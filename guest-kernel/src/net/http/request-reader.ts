/**
 * The server's side of parsing: requests, one after another, from the bytes a connection
 * received (RFC 9112 3 and 6). A pipelining client sends several requests before reading any
 * answer; the reader hands them out one at a time, in order, leaving the bytes of the next in the
 * buffer for the next call.
 *
 * Limits, and what exceeding them earns: a request line over 8 KiB is 414 (URI Too Long, as nginx
 * and Node answer it); a header section over 16 KiB or 100 fields is 431; a body over 1 MiB is 413.
 * A malformed request line or field, an HTTP/1.1 request without exactly one Host (RFC 9112 3.2), a
 * bad Content-Length or both framings at once are 400; a version other than HTTP/1.x is 505. Each
 * of these ends the connection: after a message we could not frame, where the next one starts is
 * unknowable.
 */
import type { ByteBuffer } from "./bytes.ts";
import { fromUtf8 } from "./bytes.ts";
import { ChunkedDecoder, requestFraming, type Framing } from "./body.ts";
import { HeadScanner } from "./head.ts";
import { HttpError, hasToken, type HttpHeaders, type HttpRequest } from "./message.ts";

export interface RequestLimits {
  /** The longest request line (8192); longer is 414. */
  maxRequestLine: number;
  /** The largest header section (16384 bytes); larger is 431. */
  maxHeaderBytes: number;
  /** The most header fields (100); more is 431. */
  maxHeaderFields: number;
  /** The largest body (1 MiB); larger is 413. */
  maxBodyBytes: number;
}

export const DEFAULT_LIMITS: RequestLimits = {
  maxRequestLine: 8192,
  maxHeaderBytes: 16384,
  maxHeaderFields: 100,
  maxBodyBytes: 1 << 20,
};

export type ReadResult =
  | { kind: "request"; request: HttpRequest }
  /** The head asked for `Expect: 100-continue` and its body has not come: answer 100 first. */
  | { kind: "continue" };

interface PendingHead {
  method: string;
  target: string;
  version: "1.0" | "1.1";
  headers: HttpHeaders;
  framing: Framing;
  chunked?: ChunkedDecoder;
  continueSent: boolean;
}

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/(\d)\.(\d)$/;

export class RequestReader {
  private readonly scanner: HeadScanner;
  private pending: PendingHead | undefined;

  constructor(
    private readonly limits: RequestLimits,
    private readonly remoteAddress: string,
    private readonly remotePort: number,
  ) {
    this.scanner = new HeadScanner({
      maxStartLine: limits.maxRequestLine,
      maxHeaderBytes: limits.maxHeaderBytes,
      maxFields: limits.maxHeaderFields,
      startLineStatus: 414,
      headerStatus: 431,
    });
  }

  /** Whether a request has begun and is not complete (some of its bytes are held). */
  get midRequest(): boolean {
    return this.pending !== undefined;
  }

  /**
   * The next request from the front of `buf` (its bytes consumed), a request for a 100 Continue,
   * or undefined when more bytes are needed. Throws HttpError for a request to be refused.
   */
  next(buf: ByteBuffer): ReadResult | undefined {
    if (!this.pending) {
      const head = this.scanner.next(buf.view());
      if (!head) return undefined;
      buf.consume(head.length);
      this.pending = this.parseHead(head.startLine, head.headers);
    }
    const p = this.pending;
    let body: Uint8Array | undefined;
    if (p.framing.kind === "none") body = new Uint8Array(0);
    else if (p.framing.kind === "length") {
      if (buf.length >= p.framing.length) body = buf.take(p.framing.length);
    } else {
      p.chunked ??= new ChunkedDecoder(this.limits.maxBodyBytes);
      buf.consume(p.chunked.feed(buf.view()));
      if (p.chunked.done) body = p.chunked.body();
    }
    if (!body) {
      // RFC 9110 10.1.1: a client that sent Expect: 100-continue may wait for our go-ahead.
      if (!p.continueSent && p.version === "1.1" && hasToken(p.headers["expect"], "100-continue")) {
        p.continueSent = true;
        return { kind: "continue" };
      }
      return undefined;
    }
    this.pending = undefined;
    const full = pathOf(p.target);
    const q = full.indexOf("?");
    const request: HttpRequest = {
      method: p.method,
      target: p.target,
      path: q < 0 ? full : full.slice(0, q),
      query: q < 0 ? "" : full.slice(q + 1),
      version: p.version,
      headers: p.headers,
      body,
      text: () => fromUtf8(body),
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
    };
    return { kind: "request", request };
  }

  private parseHead(line: string, headers: HttpHeaders): PendingHead {
    const m = REQUEST_LINE.exec(line);
    if (!m) throw new HttpError(400, `bad request line ${JSON.stringify(line.slice(0, 80))}`);
    const [, method, target, major, minor] = m as unknown as [string, string, string, string, string];
    if (major !== "1") throw new HttpError(505, `HTTP/${major}.${minor} is not supported`);
    // A higher 1.x minor version is answered as 1.1 (RFC 9110 2.5).
    const version = minor === "0" ? "1.0" : "1.1";
    const host = headers["host"];
    if (version === "1.1" && host === undefined) throw new HttpError(400, "an HTTP/1.1 request without Host");
    if (host !== undefined && host.includes(",")) throw new HttpError(400, "more than one Host");
    if (!target.startsWith("/") && !/^https?:\/\//i.test(target) && !(target === "*" && method === "OPTIONS"))
      throw new HttpError(400, `bad request target ${JSON.stringify(target.slice(0, 80))}`);
    const framing = requestFraming(headers);
    if (framing.kind === "length" && framing.length > this.limits.maxBodyBytes)
      throw new HttpError(413, `body of ${framing.length} bytes over ${this.limits.maxBodyBytes}`);
    return { method, target, version, headers, framing, continueSent: false };
  }
}

/** The path of a target: as is for origin-form, the part after the authority for absolute-form. */
function pathOf(target: string): string {
  const m = /^https?:\/\/[^/?#]*(.*)$/i.exec(target);
  if (!m) return target;
  return m[1] === "" || m[1]!.startsWith("?") ? `/${m[1]}` : m[1]!;
}
