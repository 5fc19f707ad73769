/**
 * The xs_wire protocol (io/xs_wire.h): a 16-byte xsd_sockmsg header (type, req_id, tx_id, len, all
 * u32 little-endian) followed by `len` payload bytes, at most XENSTORE_PAYLOAD_MAX. Strings in a
 * payload are NUL-terminated; a reply's payload is parsed only after it has been copied off the ring.
 */

/** XS_* message types, in xs_wire.h's order. */
export const XS = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
} as const;

export const XSD_SOCKMSG_SIZE = 16;
export const XENSTORE_PAYLOAD_MAX = 4096;
export const XENSTORE_ABS_PATH_MAX = 3072;

/**
 * XS_ERROR payloads carry an errno *name* ("ENOENT"); these are the names xs_wire.h lists, with
 * Xen's (= Linux's) positive numbers so callers can return -errno like any hypercall.
 */
export const XSD_ERRORS: Readonly<Record<string, number>> = {
  EINVAL: 22,
  EACCES: 13,
  EEXIST: 17,
  EISDIR: 21,
  ENOENT: 2,
  ENOMEM: 12,
  ENOSPC: 28,
  EIO: 5,
  ENOTEMPTY: 39,
  ENOSYS: 38,
  EROFS: 30,
  EBUSY: 16,
  EAGAIN: 11,
  EISCONN: 106,
  E2BIG: 7,
  EPERM: 1,
};

/** A message header. */
export interface XsHeader {
  type: number;
  reqId: number;
  txId: number;
  len: number;
}

/** A whole message: header fields plus the payload bytes. */
export interface XsMessage extends XsHeader {
  payload: Uint8Array;
}

/** Encodes header + payload into one buffer ready for the ring. Throws E2BIG-style RangeError. */
export function encodeMessage(type: number, reqId: number, txId: number, payload: Uint8Array): Uint8Array {
  if (payload.length > XENSTORE_PAYLOAD_MAX) {
    throw new XsError("E2BIG", `payload of ${payload.length} bytes exceeds ${XENSTORE_PAYLOAD_MAX}`);
  }
  const out = new Uint8Array(XSD_SOCKMSG_SIZE + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, true);
  v.setUint32(4, reqId >>> 0, true);
  v.setUint32(8, txId >>> 0, true);
  v.setUint32(12, payload.length, true);
  out.set(payload, XSD_SOCKMSG_SIZE);
  return out;
}

/** Decodes a 16-byte header. */
export function decodeHeader(bytes: Uint8Array): XsHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset, XSD_SOCKMSG_SIZE);
  return {
    type: v.getUint32(0, true),
    reqId: v.getUint32(4, true),
    txId: v.getUint32(8, true),
    len: v.getUint32(12, true),
  };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Joins strings as NUL-terminated fields: ["a","b"] -> "a\0b\0". */
export function nulFields(...fields: string[]): Uint8Array {
  return enc.encode(fields.map((f) => f + "\0").join(""));
}

/** A path (NUL-terminated) followed by raw value bytes, as XS_WRITE wants. */
export function pathAndValue(path: string, value: Uint8Array): Uint8Array {
  const p = enc.encode(path + "\0");
  const out = new Uint8Array(p.length + value.length);
  out.set(p);
  out.set(value, p.length);
  return out;
}

/** Splits a payload of NUL-terminated strings; a trailing empty field is dropped. */
export function splitFields(payload: Uint8Array): string[] {
  if (payload.length === 0) return [];
  const parts = dec.decode(payload).split("\0");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** A payload as text with any trailing NUL removed (XS_READ values have none, acks have one). */
export function payloadText(payload: Uint8Array): string {
  const s = dec.decode(payload);
  return s.endsWith("\0") ? s.slice(0, -1) : s;
}

/** An XS_ERROR reply, or a client-side protocol error, with its errno name and number. */
export class XsError extends Error {
  readonly errno: number;
  constructor(
    readonly code: string,
    detail?: string,
  ) {
    super(detail ? `xenstore ${code}: ${detail}` : `xenstore ${code}`);
    this.name = "XsError";
    this.errno = XSD_ERRORS[code] ?? XSD_ERRORS.EIO;
  }
}
