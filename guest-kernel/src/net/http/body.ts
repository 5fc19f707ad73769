/**
 * Where a message's body ends (RFC 9112 6): a Content-Length, the chunked transfer coding, the
 * connection's close (responses only), or no body at all — and the decoder for chunked bodies.
 *
 * A request that carries both Transfer-Encoding and Content-Length is refused (400): two framings
 * that may disagree are how requests are smuggled past a proxy (RFC 9112 6.1 lets a server reject
 * it, and says to close the connection after). A transfer coding other than chunked is answered 501:
 * this server decodes no gzip. A Content-Length that is not digits, or a list of differing values,
 * is 400 (6.3 step 5).
 */
import { latin1 } from "./bytes.ts";
import { HttpError, bodyless, type HttpHeaders } from "./message.ts";

export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** The body runs until the peer closes (a response without a length). */
  | { kind: "close" };

const LF = 0x0a;
const CR = 0x0d;

/** The value of Content-Length: one number, or a list of the same number repeated (RFC 9110 8.6). */
function contentLength(value: string): number {
  const values = value.split(",").map((v) => v.trim());
  if (!values.every((v) => /^\d{1,15}$/.test(v) && v === values[0]))
    throw new HttpError(400, `bad Content-Length ${JSON.stringify(value)}`);
  return Number(values[0]);
}

/** The transfer codings listed, lower-cased, in order. */
const codings = (te: string) => te.split(",").map((c) => c.trim().toLowerCase());

/** How a request's body is framed; throws HttpError (400, 501) for what we refuse. */
export function requestFraming(headers: HttpHeaders): Framing {
  const te = headers["transfer-encoding"];
  const cl = headers["content-length"];
  if (te !== undefined) {
    if (cl !== undefined) throw new HttpError(400, "both Transfer-Encoding and Content-Length");
    const list = codings(te);
    // chunked must come last (RFC 9112 6.3 step 4): otherwise the request's length is unknowable.
    if (list[list.length - 1] !== "chunked")
      throw new HttpError(400, `Transfer-Encoding ${te} without chunked last`);
    if (list.length > 1) throw new HttpError(501, `transfer coding ${list[0]} is not supported`);
    return { kind: "chunked" };
  }
  if (cl !== undefined) {
    const length = contentLength(cl);
    return length === 0 ? { kind: "none" } : { kind: "length", length };
  }
  return { kind: "none" };
}

/** How a response to `method` is framed (RFC 9112 6.3); throws Error for a bad Content-Length. */
export function responseFraming(method: string, status: number, headers: HttpHeaders): Framing {
  if (method === "HEAD" || bodyless(status)) return { kind: "none" };
  const te = headers["transfer-encoding"];
  if (te !== undefined) {
    const list = codings(te);
    return list[list.length - 1] === "chunked" ? { kind: "chunked" } : { kind: "close" };
  }
  const cl = headers["content-length"];
  if (cl !== undefined) {
    const length = contentLength(cl);
    return length === 0 ? { kind: "none" } : { kind: "length", length };
  }
  return { kind: "close" };
}

/**
 * RFC 9112 7.1's chunked coding, decoded incrementally: `feed` takes what it can from the front of
 * the bytes received and says how much it used; the body is done when `done` is. Chunk extensions
 * are read past and trailer fields dropped (a server may discard them, 7.1.2).
 */
export class ChunkedDecoder {
  private state: "size" | "data" | "data-end" | "trailer" | "done" = "size";
  private remaining = 0;
  private trailerBytes = 0;
  private readonly parts: Uint8Array[] = [];
  /** Body bytes decoded so far. */
  size = 0;

  constructor(
    /** The largest body accepted: more is 413. */
    private readonly maxBody: number,
    /** The longest chunk-size or trailer line, and all the trailer lines together. */
    private readonly maxLine = 4096,
  ) {}

  get done(): boolean {
    return this.state === "done";
  }

  /** The decoded body, once done. */
  body(): Uint8Array {
    let at = 0;
    const out = new Uint8Array(this.size);
    for (const p of this.parts) (out.set(p, at), (at += p.length));
    return out;
  }

  /** Decodes from the front of `buf`; returns how many bytes it used. Throws HttpError. */
  feed(buf: Uint8Array): number {
    let at = 0;
    while (at < buf.length && this.state !== "done") {
      if (this.state === "data") {
        const n = Math.min(this.remaining, buf.length - at);
        this.parts.push(buf.slice(at, at + n));
        at += n;
        this.size += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = "data-end";
        continue;
      }
      if (this.state === "data-end") {
        // The CRLF after a chunk's data.
        if (buf[at] === LF) at += 1;
        else if (buf[at] === CR && at + 1 < buf.length && buf[at + 1] === LF) at += 2;
        else if (buf[at] === CR && at + 1 === buf.length) break;
        else throw new HttpError(400, "chunk data not followed by CRLF");
        this.state = "size";
        continue;
      }
      const lf = buf.indexOf(LF, at);
      if (lf < 0) {
        if (buf.length - at > this.maxLine) throw new HttpError(400, "chunk line too long");
        break;
      }
      const end = lf > at && buf[lf - 1] === CR ? lf - 1 : lf;
      const line = latin1(buf, at, end);
      at = lf + 1;
      if (this.state === "trailer") {
        this.trailerBytes += line.length + 2;
        if (this.trailerBytes > this.maxLine) throw new HttpError(431, "trailer section too long");
        if (line === "") this.state = "done";
        continue;
      }
      const m = /^([0-9A-Fa-f]{1,15})[ \t]*(;[^\x00-\x08\x0a-\x1f\x7f]*)?$/.exec(line);
      if (!m) throw new HttpError(400, `bad chunk size line ${JSON.stringify(line.slice(0, 40))}`);
      const n = parseInt(m[1]!, 16);
      if (this.size + n > this.maxBody) throw new HttpError(413, `body over ${this.maxBody} bytes`);
      if (n === 0) this.state = "trailer";
      else {
        this.state = "data";
        this.remaining = n;
      }
    }
    return at;
  }
}
