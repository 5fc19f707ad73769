/**
 * The small runtime contract that generated code is written against, on both sides of the ABI.
 *
 * Nothing here knows about the hypervisor or the guest kernel: the guest supplies a
 * HypercallTransport (its vCPU's trap + its memory), the hypervisor supplies a GuestCopier (copy in /
 * copy out of one domain's memory). Codecs work on DataViews over bytes that have already been copied
 * once, so a value read from shared memory cannot change under the reader (no double fetch).
 */

/** Encodes/decodes one C struct at an offset of a DataView (little-endian, natural alignment). */
export interface StructCodec<T> {
  readonly name: string;
  readonly size: number;
  readonly align: number;
  /** Byte offset of every top-level field. */
  readonly offsets: { readonly [K in keyof T]: number };
  decode(view: DataView, offset?: number): T;
  encode(view: DataView, offset: number, value: T): void;
  /** A value with every field zero (what a fresh, zeroed struct decodes to). */
  zero(): T;
}

/** A guest's view of its own memory, addressed by guest (pseudo-physical) address. */
export interface GuestMemory {
  /** Copies `len` bytes out of guest memory. Throws RangeError outside the domain's memory. */
  read(addr: number, len: number): Uint8Array;
  write(addr: number, bytes: Uint8Array): void;
}

/** How a guest traps into the hypervisor. Implemented by the guest kernel's vCPU. */
export interface HypercallTransport {
  /** Trap with op and up to 5 register arguments; returns the hypervisor's `long` result. */
  trap(op: number, args: readonly bigint[]): bigint;
  /** The same, for calls that may block the vCPU (SCHEDOP_block): must not freeze the event loop. */
  trapAsync(op: number, args: readonly bigint[]): Promise<bigint>;
  readonly memory: GuestMemory;
  /** A per-vCPU area of guest memory the SDK marshals struct arguments into. */
  readonly scratch: { readonly addr: number; readonly size: number };
}

/** A hypercall failed: carries Xen's errno (positive) and its name. */
export class XenError extends Error {
  constructor(
    readonly errno: number,
    readonly errnoName: string,
    readonly call: string,
  ) {
    super(`${call}: -${errnoName} (${-errno})`);
    this.name = "XenError";
  }
}

/** Thrown by a GuestCopier when an address is outside the calling domain's memory. */
export class GuestFault extends Error {
  constructor(
    readonly addr: bigint,
    readonly len: number,
  ) {
    super(`guest fault at 0x${addr.toString(16)} (+${len})`);
    this.name = "GuestFault";
  }
}

/** The hypervisor's access to the calling domain's memory: copy_from_guest / copy_to_guest. */
export interface GuestCopier {
  /** Copies `len` bytes at guest address `addr` into a fresh buffer. Throws GuestFault. */
  copyFromGuest(addr: bigint, len: number): DataView;
  /** Throws GuestFault. */
  copyToGuest(addr: bigint, bytes: Uint8Array): void;
}

/** What the generated dispatcher needs from the hypervisor for one trapped call. */
export interface HypercallContext extends GuestCopier {
  /** The calling domain is the control domain (dom0): privileged sub-ops are allowed. */
  readonly privileged: boolean;
}

/**
 * A handler returns Xen's `long`: >= 0 success (0 or a value), < 0 a negated errno. It may return a
 * Promise when the vCPU has to wait (SCHEDOP_block); the guest stays trapped until it settles.
 */
export type HandlerResult = number | Promise<number>;

/** Throw from a handler to return -errno; the dispatcher converts it. */
export class HypercallError extends Error {
  constructor(readonly errno: number) {
    super(`hypercall error ${errno}`);
    this.name = "HypercallError";
  }
}

/**
 * Where a shared ring's parts sit in its page (io/ring.h): a 64-byte header (req_prod @0,
 * req_event @4, rsp_prod @8, rsp_event @12, private pad) then `entries` slots of `entrySize` bytes,
 * each holding a request or a response.
 */
export interface RingLayout<Req, Rsp> {
  readonly name: string;
  readonly entries: number;
  readonly entrySize: number;
  readonly headerSize: number;
  /** Byte offset in the ring page of slot `index & (entries - 1)`. */
  entryOffset(index: number): number;
  readonly request: StructCodec<Req>;
  readonly response: StructCodec<Rsp>;
}

/** Reads a NUL-padded char[len] as a string (up to the first NUL; bytes as Latin-1 → UTF-8 decode). */
export function readChars(v: DataView, at: number, len: number): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset + at, len);
  const end = bytes.indexOf(0);
  return textDecoder.decode(end < 0 ? bytes.slice() : bytes.slice(0, end));
}

/** Writes a string into char[len], truncated to len bytes and NUL-padded. */
export function writeChars(v: DataView, at: number, len: number, s: string): void {
  const dst = new Uint8Array(v.buffer, v.byteOffset + at, len);
  dst.fill(0);
  dst.set(textEncoder.encode(s).subarray(0, len));
}

/** Copies a u8[len] out of the view. */
export function readBytes(v: DataView, at: number, len: number): Uint8Array {
  return new Uint8Array(v.buffer.slice(v.byteOffset + at, v.byteOffset + at + len));
}

/** Writes up to len bytes, zero-filling the rest of the field. */
export function writeBytes(v: DataView, at: number, len: number, b: Uint8Array): void {
  const dst = new Uint8Array(v.buffer, v.byteOffset + at, len);
  dst.fill(0);
  dst.set(b.subarray(0, len));
}

/**
 * Zeroes `len` bytes (struct padding must not carry stale bytes across the ABI). A struct's worth
 * is stored through the view itself: encode runs for every ring request, and in a guest each typed
 * array made to fill(0) goes through the allocation gate's constructor (~0.1 µs, more than the
 * stores). A large run is filled through a typed array.
 */
export function zeroBytes(v: DataView, at: number, len: number): void {
  if (len > 256) {
    new Uint8Array(v.buffer, v.byteOffset + at, len).fill(0);
    return;
  }
  let i = 0;
  for (; i + 4 <= len; i += 4) v.setUint32(at + i, 0);
  for (; i < len; i++) v.setUint8(at + i, 0);
}

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();
