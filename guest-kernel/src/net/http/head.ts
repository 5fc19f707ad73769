/**
 * The head of an HTTP/1.1 message (RFC 9112 2.1): a start line, header fields one a line, an empty
 * line. HeadScanner finds it at the front of the received bytes as they arrive, enforcing the
 * limits on the way (so a client cannot make us hold an endless head), and parses the fields.
 *
 * Lines end in CRLF; a bare LF is accepted as well (RFC 9112 2.2 allows it), a bare CR elsewhere is
 * not. Empty lines before the start line are skipped (2.2: a client may send a CRLF after a POST's
 * body). Refused outright, with 400: a field line that starts with whitespace (obsolete line
 * folding, 5.2), whitespace between a field name and its colon (5.1: a request-smuggling vector),
 * a name that is not a token, and control characters in a value.
 */
import { latin1 } from "./bytes.ts";
import { HttpError, type HttpHeaders } from "./message.ts";

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;

export interface HeadLimits {
  /** The longest start line (request or status line), without its CRLF. */
  maxStartLine: number;
  /** The longest header section: every field line with its CRLF. */
  maxHeaderBytes: number;
  /** The most field lines. */
  maxFields: number;
  /** The statuses for a start line or a header section over its limit (414 and 431 for requests). */
  startLineStatus: number;
  headerStatus: number;
}

export interface Head {
  startLine: string;
  headers: HttpHeaders;
  /** Bytes from the front of the buffer to the end of the empty line. */
  length: number;
}

/** Blank lines tolerated before a start line. */
const MAX_LEADING_BLANKS = 256;

/** RFC 9110 5.6.2's tchar: the characters of a token (field names, methods). */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1;
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] !== 1) return false;
  }
  return true;
}

export class HeadScanner {
  /** Where the field lines begin, once the start line is known (-1 before). */
  private fieldsStart = -1;
  /** How far the field lines have been scanned, and the [start, end) of each complete one. */
  private pos = 0;
  private lines: [number, number][] = [];
  private startLine = "";

  constructor(private readonly limits: HeadLimits) {}

  /**
   * The head at the front of `buf`, or undefined when more bytes are needed. Throws HttpError
   * for a head over a limit or malformed. Call again with the same front (more bytes appended)
   * until it returns, then consume `length` bytes.
   */
  next(buf: Uint8Array): Head | undefined {
    if (this.fieldsStart < 0 && !this.readStartLine(buf)) return undefined;
    const { maxHeaderBytes, headerStatus, maxFields } = this.limits;
    for (;;) {
      const lf = buf.indexOf(LF, this.pos);
      if (lf < 0) {
        if (buf.length - this.fieldsStart > maxHeaderBytes)
          throw new HttpError(headerStatus, `header section over ${maxHeaderBytes} bytes`);
        return undefined;
      }
      const end = lf > this.pos && buf[lf - 1] === CR ? lf - 1 : lf;
      const start = this.pos;
      this.pos = lf + 1;
      if (this.pos - this.fieldsStart > maxHeaderBytes)
        throw new HttpError(headerStatus, `header section over ${maxHeaderBytes} bytes`);
      if (end === start) break; // the empty line: the head is complete
      this.lines.push([start, end]);
      if (this.lines.length > maxFields)
        throw new HttpError(headerStatus, `more than ${maxFields} header fields`);
    }
    const head: Head = { startLine: this.startLine, headers: parseFields(buf, this.lines), length: this.pos };
    this.reset();
    return head;
  }

  /** Forgets a partly scanned head (the bytes it was in are gone). */
  reset(): void {
    this.fieldsStart = -1;
    this.pos = 0;
    this.lines = [];
    this.startLine = "";
  }

  private readStartLine(buf: Uint8Array): boolean {
    const { maxStartLine, startLineStatus } = this.limits;
    let skip = 0;
    while (skip < buf.length && (buf[skip] === CR || buf[skip] === LF)) skip++;
    if (skip > MAX_LEADING_BLANKS) throw new HttpError(400, "too many empty lines before the start line");
    const lf = buf.indexOf(LF, skip);
    const end = lf < 0 ? buf.length : buf[lf - 1] === CR ? lf - 1 : lf;
    if (end - skip > maxStartLine)
      throw new HttpError(startLineStatus, `start line over ${maxStartLine} bytes`);
    if (lf < 0) return false;
    this.startLine = latin1(buf, skip, end);
    this.fieldsStart = this.pos = lf + 1;
    return true;
  }
}

function parseFields(buf: Uint8Array, lines: [number, number][]): HttpHeaders {
  // No prototype: a field named __proto__ is a field like any other.
  const headers: HttpHeaders = Object.create(null) as HttpHeaders;
  for (const [start, end] of lines) {
    if (buf[start] === SP || buf[start] === HT) throw new HttpError(400, "obsolete line folding");
    const colon = buf.indexOf(0x3a, start);
    if (colon < 0 || colon >= end) throw new HttpError(400, "a header line without a colon");
    const name = latin1(buf, start, colon);
    if (!isToken(name)) throw new HttpError(400, `bad header name ${JSON.stringify(name)}`);
    let a = colon + 1;
    let b = end;
    while (a < b && (buf[a] === SP || buf[a] === HT)) a++;
    while (b > a && (buf[b - 1] === SP || buf[b - 1] === HT)) b--;
    for (let i = a; i < b; i++) {
      const c = buf[i]!;
      if ((c < 0x20 && c !== HT) || c === 0x7f) throw new HttpError(400, `a control character in ${name}`);
    }
    const key = name.toLowerCase();
    const value = latin1(buf, a, b);
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  }
  return headers;
}
