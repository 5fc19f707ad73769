/**
 * HTTP/1.1 messages as programs see them (RFC 9110 semantics, RFC 9112 syntax): the request a
 * handler receives, the response it returns, helpers that make the common responses, the reason
 * phrases, and the Date header's format.
 *
 * Header names are lower-cased (they are case-insensitive); a field sent more than once is joined
 * with ", " as RFC 9110 5.3 allows for list-valued fields.
 */
import { fromUtf8, utf8 } from "./bytes.ts";

export type HttpHeaders = Record<string, string>;

export interface HttpRequest {
  /** "GET", "POST", ... exactly as sent (methods are case-sensitive). */
  method: string;
  /** The request-target as sent: "/stats?verbose=1". */
  target: string;
  /** The target's path: "/stats". */
  path: string;
  /** What follows "?" in the target, without it: "verbose=1" ("" when there is none). */
  query: string;
  /** The protocol version: "1.0" or "1.1". */
  version: "1.0" | "1.1";
  headers: HttpHeaders;
  /** The whole body (empty without one); chunked bodies arrive decoded. */
  body: Uint8Array;
  /** The body as UTF-8 text. */
  text(): string;
  remoteAddress: string;
  remotePort: number;
}

/** What a handler returns; everything may be left out (200, no extra headers, empty body). */
export interface HttpResponse {
  status?: number;
  /** Extra headers (Content-Type, Location, ...); Content-Length, Date and Server are set for you. */
  headers?: HttpHeaders;
  /** A string is sent as UTF-8. */
  body?: string | Uint8Array;
}

export type HttpHandler = (req: HttpRequest) => HttpResponse | Promise<HttpResponse>;

/** An error a message's syntax or size earns: the status to answer with and why. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const html = (body: string, status = 200): HttpResponse => ({
  status,
  headers: { "content-type": "text/html; charset=utf-8" },
  body,
});

export const json = (value: unknown, status = 200): HttpResponse => ({
  status,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(value, null, 2) + "\n",
});

export const text = (body: string, status = 200): HttpResponse => ({
  status,
  headers: { "content-type": "text/plain; charset=utf-8" },
  body,
});

/** RFC 9110 15's reason phrases for the statuses a small server uses. */
const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

export const reasonPhrase = (status: number): string => REASONS[status] ?? "Unknown";

/** Statuses whose responses never have a body (RFC 9110 6.4.1): 1xx, 204, 304. */
export const bodyless = (status: number): boolean => status < 200 || status === 204 || status === 304;

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n: number) => String(n).padStart(2, "0");

/** RFC 9110 5.6.7's IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
export function httpDate(d: Date): string {
  return (
    `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} GMT`
  );
}

/** Whether the comma-separated list in header `value` holds `token` (case-insensitive). */
export function hasToken(value: string | undefined, token: string): boolean {
  if (!value) return false;
  return value.split(",").some((t) => t.trim().toLowerCase() === token);
}

/** A body as bytes. */
export const bodyBytes = (body: string | Uint8Array | undefined): Uint8Array =>
  body === undefined ? new Uint8Array(0) : typeof body === "string" ? utf8(body) : body;

export const decodeBody = fromUtf8;
