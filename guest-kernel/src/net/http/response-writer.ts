/**
 * A response as bytes (RFC 9112 4 and 6): the status line, the handler's headers, and the ones the
 * server owns — Date (RFC 9110 6.6.1: an origin server with a clock sends it), Server,
 * Content-Length, Connection — then the body. Every response has a Content-Length unless its status
 * forbids a body, so a keep-alive client always knows where it ends. A HEAD response carries the
 * length the GET's body would have had and no body.
 *
 * A handler's header that would break the framing — a CR or LF in a value (response splitting), a
 * name that is not a token — is refused with an Error (the server answers 500 instead).
 */
import { latin1Into, utf8 } from "./bytes.ts";
import { isToken } from "./head.ts";
import { bodyBytes, bodyless, httpDate, reasonPhrase, type HttpResponse } from "./message.ts";

/** Headers the server writes itself; a handler's own are dropped (Date and Server: it may set them). */
const OWNED = new Set(["content-length", "transfer-encoding", "connection", "keep-alive"]);

export interface WriteOptions {
  /** The request's method (HEAD gets no body). */
  method: string;
  /** The request's version: an HTTP/1.0 client is told "Connection: keep-alive" when we keep it. */
  version: "1.0" | "1.1";
  keepAlive: boolean;
  date: Date;
  server: string;
}

export function responseBytes(res: HttpResponse, o: WriteOptions): Uint8Array {
  const status = res.status ?? 200;
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new Error(`bad status ${status}`);
  const body = bodyBytes(res.body);
  let head = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
  const given = new Set<string>();
  for (const [name, value] of Object.entries(res.headers ?? {})) {
    if (!isToken(name)) throw new Error(`bad header name ${JSON.stringify(name)}`);
    const v = String(value);
    if (/[\r\n\0]/.test(v)) throw new Error(`header ${name}: a CR, LF or NUL in its value`);
    const lower = name.toLowerCase();
    if (OWNED.has(lower)) continue;
    given.add(lower);
    head += `${name}: ${v}\r\n`;
  }
  if (!given.has("date")) head += `Date: ${httpDate(o.date)}\r\n`;
  if (!given.has("server")) head += `Server: ${o.server}\r\n`;
  if (!bodyless(status)) head += `Content-Length: ${body.length}\r\n`;
  if (!o.keepAlive) head += "Connection: close\r\n";
  else if (o.version === "1.0") head += "Connection: keep-alive\r\n";
  head += "\r\n";
  // Header text is Latin-1 by definition (RFC 9110 5.5); the body is what the handler gave. One
  // array for both: each array over 64 bytes is a backing store that malloc makes and the collector
  // frees, the dearest part of a small response.
  const sendBody = o.method !== "HEAD" && !bodyless(status);
  const out = new Uint8Array(head.length + (sendBody ? body.length : 0));
  latin1Into(head, out, 0);
  if (sendBody) out.set(body, head.length);
  return out;
}

/** The interim answer to `Expect: 100-continue`. */
export const CONTINUE = utf8("HTTP/1.1 100 Continue\r\n\r\n");
