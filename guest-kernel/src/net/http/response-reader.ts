/**
 * The client's side of parsing: one response from a connection (RFC 9112 4 and 6.3). Interim 1xx
 * responses (100 Continue, 103 Early Hints) are read past; the body is framed by the request's
 * method and the status (HEAD, 204 and 304 have none), then by chunked, Content-Length, or — for a
 * response with neither — the connection's close. Only a response framed by its own length or
 * chunks leaves the connection usable for another request.
 */
import { ByteBuffer, concat, fromUtf8 } from "./bytes.ts";
import { ChunkedDecoder, responseFraming } from "./body.ts";
import { HeadScanner } from "./head.ts";
import { HttpError, hasToken, type HttpHeaders } from "./message.ts";
import type { TcpSocket } from "../stack/api.ts";

export interface HttpClientResponse {
  status: number;
  statusText: string;
  /** "1.1" or "1.0". */
  version: string;
  /** Lower-cased names. */
  headers: HttpHeaders;
  body: Uint8Array;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
}

export interface ReadResponseResult {
  response: HttpClientResponse;
  /** The connection may carry another request. */
  reusable: boolean;
}

/** Why the connection ended before the response's first byte: a kept-alive connection the server had closed. */
export class StaleConnection extends Error {
  constructor() {
    super("the server closed the connection before answering");
    this.name = "StaleConnection";
  }
}

const STATUS_LINE = /^HTTP\/(\d)\.(\d) (\d{3})(?: (.*))?$/;

export interface ReadResponseOptions {
  /** The largest body accepted (64 MiB). */
  maxBodyBytes: number;
  /** Called on every chunk received (the client's inactivity timeout restarts). */
  progress(): void;
}

/** Reads one response to `method` from `sock`; bytes read past it stay in `buf`. Throws Error. */
export async function readResponse(
  sock: TcpSocket,
  buf: ByteBuffer,
  method: string,
  o: ReadResponseOptions,
): Promise<ReadResponseResult> {
  let received = buf.length > 0;
  let eof = false;
  /** More bytes into `buf`; false at the server's FIN. */
  const more = async (): Promise<boolean> => {
    if (eof) return false;
    const chunk = await sock.read();
    if (chunk === null) {
      if (!received) throw new StaleConnection();
      eof = true;
      return false;
    }
    received = true;
    buf.push(chunk);
    o.progress();
    return true;
  };
  const scanner = new HeadScanner({
    maxStartLine: 8192,
    maxHeaderBytes: 65536,
    maxFields: 200,
    startLineStatus: 502,
    headerStatus: 502,
  });
  try {
    for (;;) {
      const head = scanner.next(buf.view());
      if (!head) {
        if (!(await more())) throw new Error("the connection closed in the middle of a response head");
        continue;
      }
      buf.consume(head.length);
      const m = STATUS_LINE.exec(head.startLine);
      if (!m) throw new Error(`bad status line ${JSON.stringify(head.startLine.slice(0, 80))}`);
      const status = Number(m[3]);
      if (status === 101) throw new Error("the server switched protocols");
      if (status < 200) continue; // an interim response: the real one follows
      const framing = responseFraming(method, status, head.headers);
      let body: Uint8Array;
      if (framing.kind === "none") body = new Uint8Array(0);
      else if (framing.kind === "length") {
        if (framing.length > o.maxBodyBytes)
          throw new Error(`a body of ${framing.length} bytes is too large`);
        while (buf.length < framing.length)
          if (!(await more())) throw new Error("the connection closed in the middle of a response body");
        body = buf.take(framing.length);
      } else if (framing.kind === "chunked") {
        const decoder = new ChunkedDecoder(o.maxBodyBytes);
        for (;;) {
          buf.consume(decoder.feed(buf.view()));
          if (decoder.done) break;
          if (!(await more())) throw new Error("the connection closed in the middle of a chunked body");
        }
        body = decoder.body();
      } else {
        // No length: the body is everything until the server closes.
        const parts: Uint8Array[] = [];
        let size = 0;
        for (;;) {
          size += buf.length;
          if (size > o.maxBodyBytes) throw new Error(`a body over ${o.maxBodyBytes} bytes is too large`);
          if (buf.length > 0) parts.push(buf.take(buf.length));
          if (!(await more())) break;
        }
        body = concat(parts);
      }
      const version = `${m[1]}.${m[2]}`;
      const connection = head.headers["connection"];
      const reusable =
        framing.kind !== "close" &&
        !eof &&
        !hasToken(connection, "close") &&
        (version === "1.1" || hasToken(connection, "keep-alive")) &&
        buf.length === 0; // bytes after the response: the server is out of step with us
      const response: HttpClientResponse = {
        status,
        statusText: m[4] ?? "",
        version,
        headers: head.headers,
        body,
        text: () => fromUtf8(body),
        json: <T>() => JSON.parse(fromUtf8(body)) as T,
      };
      return { response, reusable };
    }
  } catch (e) {
    if (e instanceof HttpError) throw new Error(`bad response: ${e.message}`);
    throw e;
  }
}
