/**
 * The xs_wire codec: 16-byte xsd_sockmsg headers, a stream framer for transports that deliver bytes
 * in arbitrary pieces, and the payload argument rules (NUL-terminated strings). Client bytes are
 * parsed only after they were copied out of the ring or socket; every check here fails with EINVAL.
 * Strings are latin1 (one char per byte) so tokens and values round-trip byte for byte.
 */
import { XENSTORE_PAYLOAD_MAX, XSD_SOCKMSG_SIZE } from "./abi.ts";
import { check } from "./errors.ts";

/** A decoded message: header fields plus a private copy of the payload. */
export interface XsMsg {
  type: number;
  reqId: number;
  txId: number;
  payload: Uint8Array;
}

/** Encodes header + payload; the caller keeps payloads within XENSTORE_PAYLOAD_MAX. */
export function encodeMsg(type: number, reqId: number, txId: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(XSD_SOCKMSG_SIZE + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, type >>> 0, true);
  v.setUint32(4, reqId >>> 0, true);
  v.setUint32(8, txId >>> 0, true);
  v.setUint32(12, payload.length, true);
  out.set(payload, XSD_SOCKMSG_SIZE);
  return out;
}

/** latin1 string -> bytes. */
export function bytesOf(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** bytes -> latin1 string. */
export function textOf(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 1024) s += String.fromCharCode(...b.subarray(i, i + 1024));
  return s;
}

/**
 * Splits a payload of NUL-terminated strings. The payload must end in NUL (a missing terminator is
 * EINVAL, as in xenstored); with `count`, exactly that many strings must be present.
 */
export function stringArgs(payload: Uint8Array, count?: number): string[] {
  check(payload.length > 0 && payload[payload.length - 1] === 0, "EINVAL", "argument not NUL-terminated");
  const parts = textOf(payload.subarray(0, payload.length - 1)).split("\0");
  if (count !== undefined) check(parts.length === count, "EINVAL", `expected ${count} arguments`);
  return parts;
}

/** C's atoi, as xenstored reads numbers: leading digits after an optional sign, else 0. */
export function atoi(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  return m ? Number(m[1]) | 0 : 0;
}

/** atoi stored into an unsigned int (domids, ports, offsets): "-1" is 4294967295. */
export const atou = (s: string): number => atoi(s) >>> 0;

/** XS_WRITE's payload: "path\0" then the raw value (not terminated). */
export function pathAndValue(payload: Uint8Array): { path: string; value: Uint8Array } {
  const nul = payload.indexOf(0);
  check(nul >= 0, "EINVAL", "write without NUL after path");
  return { path: textOf(payload.subarray(0, nul)), value: payload.slice(nul + 1) };
}

/** What the framer found next in the stream. */
export type Frame = { kind: "msg"; msg: XsMsg } | { kind: "oversize"; reqId: number; len: number };

/**
 * Reassembles messages from a byte stream. Holds at most one partial message: the caller feeds
 * bytes only while it wants more requests, so the buffer stays bounded by one message plus a chunk.
 * After an "oversize" frame the stream cannot be resynchronised and the caller must drop it.
 */
export class Framer {
  private buf = new Uint8Array(0);
  private off = 0;

  /** Bytes held but not yet returned as frames. */
  get pending(): number {
    return this.buf.length - this.off;
  }

  /**
   * How many more bytes would complete the next frame (the header first, then its payload): a ring
   * reader takes no more than this, leaving the rest in the guest's ring as back-pressure.
   */
  wanted(): number {
    if (this.pending < XSD_SOCKMSG_SIZE) return XSD_SOCKMSG_SIZE - this.pending;
    const len = new DataView(this.buf.buffer, this.buf.byteOffset + this.off + 12, 4).getUint32(0, true);
    return Math.max(0, XSD_SOCKMSG_SIZE + Math.min(len, XENSTORE_PAYLOAD_MAX) - this.pending);
  }

  push(chunk: Uint8Array): void {
    const rest = this.buf.subarray(this.off);
    const next = new Uint8Array(rest.length + chunk.length);
    next.set(rest);
    next.set(chunk, rest.length);
    this.buf = next;
    this.off = 0;
  }

  /** The next complete frame, or undefined when more bytes are needed. */
  next(): Frame | undefined {
    if (this.pending < XSD_SOCKMSG_SIZE) return undefined;
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.off, XSD_SOCKMSG_SIZE);
    const len = v.getUint32(12, true);
    const reqId = v.getUint32(4, true);
    if (len > XENSTORE_PAYLOAD_MAX) return { kind: "oversize", reqId, len };
    if (this.pending < XSD_SOCKMSG_SIZE + len) return undefined;
    const start = this.off + XSD_SOCKMSG_SIZE;
    const msg = {
      type: v.getUint32(0, true),
      reqId,
      txId: v.getUint32(8, true),
      payload: this.buf.slice(start, start + len),
    };
    this.off = start + len;
    return { kind: "msg", msg };
  }
}
