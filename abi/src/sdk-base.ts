/**
 * The hand-written base of the generated guest SDK: marshalling struct arguments into the vCPU's
 * scratch area, reading them back, and turning a negative result into a XenError. Generated stubs
 * (abi/src/generated/guest.ts) are one-liners over these helpers.
 */
import { XenError, type HypercallTransport, type StructCodec } from "./runtime.ts";

export abstract class HypercallStubs {
  constructor(protected readonly transport: HypercallTransport) {}

  /** Translates Xen errno values to names; supplied by the generated class. */
  protected abstract errnoName(errno: number): string;

  private checkFits(bytes: number, call: string) {
    if (bytes > this.transport.scratch.size)
      throw new RangeError(
        `${call}: ${bytes} bytes of arguments exceed the ${this.transport.scratch.size}-byte scratch area`,
      );
  }

  /** Encodes `values` back to back at the start of the scratch area; returns its guest address. */
  protected put<T>(codec: StructCodec<T>, values: readonly Partial<T>[], call: string, at = 0): bigint {
    const bytes = codec.size * values.length;
    this.checkFits(at + bytes, call);
    const view = new DataView(new ArrayBuffer(bytes));
    values.forEach((v, i) => codec.encode(view, i * codec.size, { ...codec.zero(), ...v } as T));
    this.transport.memory.write(this.transport.scratch.addr + at, new Uint8Array(view.buffer));
    return BigInt(this.transport.scratch.addr + at);
  }

  /** Decodes `count` structs back from the scratch area after the call. */
  protected take<T>(codec: StructCodec<T>, count: number, at = 0): T[] {
    const bytes = this.transport.memory.read(this.transport.scratch.addr + at, codec.size * count);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Array.from({ length: count }, (_, i) => codec.decode(view, i * codec.size));
  }

  /** Writes a scalar (the pointee of e.g. XENMEM_current_reservation's domid_t *). */
  protected putScalar(bytes: number, value: number | bigint, call: string): bigint {
    this.checkFits(bytes, call);
    const view = new DataView(new ArrayBuffer(bytes));
    if (bytes === 8) view.setBigUint64(0, BigInt.asUintN(64, BigInt(value)), true);
    else if (bytes === 4) view.setUint32(0, Number(value), true);
    else if (bytes === 2) view.setUint16(0, Number(value), true);
    else view.setUint8(0, Number(value));
    this.transport.memory.write(this.transport.scratch.addr, new Uint8Array(view.buffer));
    return BigInt(this.transport.scratch.addr);
  }

  /** Copies raw bytes into the scratch area (console_io write). */
  protected putBytes(bytes: Uint8Array, call: string): bigint {
    this.checkFits(bytes.length, call);
    this.transport.memory.write(this.transport.scratch.addr, bytes);
    return BigInt(this.transport.scratch.addr);
  }

  /** Reserves `len` bytes of scratch for the hypervisor to fill (console_io read). */
  protected reserve(len: number, call: string): bigint {
    this.checkFits(len, call);
    return BigInt(this.transport.scratch.addr);
  }

  protected takeBytes(len: number): Uint8Array {
    return this.transport.memory.read(this.transport.scratch.addr, len);
  }

  /** A register value as the u64 the trap carries. */
  protected reg(v: number | bigint): bigint {
    return BigInt.asUintN(64, BigInt(v));
  }

  /** Xen's `long` result: negative is -errno (thrown), otherwise the value. */
  protected check(result: bigint, call: string): number {
    if (result < 0n) {
      const errno = Number(-result);
      throw new XenError(errno, this.errnoName(errno), call);
    }
    return Number(result);
  }
}
