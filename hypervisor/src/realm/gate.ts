/**
 * The allocation gate: bounds a domain's JavaScript memory (heap plus ArrayBuffers) synchronously,
 * at the moment it allocates, instead of noticing later. V8 caps a worker's heap (resourceLimits) but
 * not the ArrayBuffer memory outside it: a guest could hold gigabytes in buffers. So before lockdown
 * the supervisor replaces every intrinsic that makes a backing store — the ArrayBuffer,
 * SharedArrayBuffer and typed-array constructors, and the methods that copy (slice, map, filter,
 * toSorted, resize, grow, TextEncoder.encode) — with wrappers that count the bytes made. Every
 * `checkEvery` bytes, or when one request is larger than what is left, the gate reads the worker's
 * real usage (process.memoryUsage: heap used + ArrayBuffers), collects garbage once if that is over
 * the bound, and calls `over` if it still is. lockdown then freezes the wrappers as the intrinsics,
 * so guest code can neither remove them nor reach the originals (they live only in this closure).
 *
 * Rule: install before lockdown() and before any guest code runs; nothing here may throw on a
 * normal allocation.
 */

export interface GateOptions {
  /** Heap used + ArrayBuffers may not exceed this many bytes. */
  limitBytes: number;
  /** Counted bytes between two real measurements. */
  checkEvery?: number;
  /** Real usage: { heapUsed, arrayBuffers } in bytes (process.memoryUsage). */
  measure: () => { heapUsed: number; arrayBuffers: number };
  /** A clock in ms (performance.now), for the backstop. */
  now: () => number;
  /** Longest time between two measurements while guest code runs (default 100 ms). */
  backstopMs?: number;
  /** Collects garbage, when the runtime lets us (undefined: cannot). */
  gc?: () => void;
  /** The bound is exceeded after a collection: the supervisor crashes the domain. Must not return. */
  over: (usedBytes: number, limitBytes: number) => never;
}

/** What install() returns: a way for the supervisor to run the check from elsewhere (traps, timers). */
export interface Gate {
  /**
   * Called on every trap and every entry into guest code; cheap. Measures when a good part of a
   * measurement's worth was counted since the last one, or — the backstop for memory no wrapper
   * counts — when the last measurement is more than `backstopMs` old (looked at every 256 calls).
   */
  tick(): void;
  /** Bytes allocated through the gate in all (a statistic). */
  readonly total: () => number;
}

const TYPED_ARRAYS = [
  "Int8Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
  "Float16Array",
] as const;

const COPYING_TYPED_ARRAY_METHODS = ["slice", "map", "filter", "toReversed", "toSorted", "with"] as const;

export function installAllocationGate(o: GateOptions): Gate {
  const checkEvery = o.checkEvery ?? 1 << 20;
  let pending = 0;
  let total = 0;
  let lastUsed = 0;
  let ticks = 0;
  let measuredAt = o.now();
  const backstopMs = o.backstopMs ?? 100;
  const g = globalThis as unknown as Record<string, unknown>;

  const measureNow = (): void => {
    pending = 0;
    measuredAt = o.now();
    let m = o.measure();
    let used = m.heapUsed + m.arrayBuffers;
    if (used > o.limitBytes && o.gc) {
      // Dead buffers are freed only by a collection, which V8 starts late (tens of MiB of external
      // memory): collect before calling a domain that churns through buffers a hog.
      o.gc();
      m = o.measure();
      used = m.heapUsed + m.arrayBuffers;
    }
    lastUsed = used;
    if (used > o.limitBytes) o.over(used, o.limitBytes);
  };

  /**
   * Called before an allocation of about `bytes` (when known). One that cannot fit is refused the way
   * V8 refuses a failed allocation (RangeError): the domain never goes past its bound for it.
   */
  const before = (bytes: number): void => {
    if (bytes > 0 && lastUsed + pending + bytes > o.limitBytes) {
      measureNow();
      if (lastUsed + bytes > o.limitBytes)
        throw new RangeError(
          `Array buffer allocation failed: ${bytes} bytes would exceed this domain's memory bound (${o.limitBytes} bytes)`,
        );
    }
  };
  /** Called after an allocation of `bytes`. */
  const after = (bytes: number): void => {
    total += bytes;
    pending += bytes;
    if (pending >= checkEvery) measureNow();
  };

  const byteLengthOf = (x: unknown): number => {
    const n = (x as { byteLength?: unknown } | null | undefined)?.byteLength;
    return typeof n === "number" ? n : 0;
  };

  /** Replaces constructor `name` by a wrapper that is, to every program, the same constructor. */
  const wrapConstructor = (name: string, elementSize: number): void => {
    const Real = g[name] as (new (...args: unknown[]) => object) | undefined;
    if (typeof Real !== "function") return;
    const Wrapper = function (this: unknown, ...args: unknown[]) {
      if (new.target === undefined) throw new TypeError(`Constructor ${name} requires 'new'`);
      const a0 = args[0];
      // new X(length) / new ArrayBuffer(byteLength): the size is known before allocating.
      if (typeof a0 === "number" && a0 > 0) before(a0 * elementSize);
      const made = Reflect.construct(Real, args, new.target === Wrapper ? Real : new.target) as {
        buffer?: unknown;
      };
      // A view over an existing buffer allocates nothing (a buffer itself has no `.buffer`).
      if (made.buffer !== a0) after(byteLengthOf(made));
      return made;
    };
    Object.defineProperty(Wrapper, "name", { value: name });
    Object.defineProperty(Wrapper, "length", { value: Real.length });
    Wrapper.prototype = Real.prototype;
    Object.defineProperty(Real.prototype, "constructor", {
      value: Wrapper,
      writable: true,
      configurable: true,
      enumerable: false,
    });
    Object.setPrototypeOf(Wrapper, Object.getPrototypeOf(Real));
    for (const key of Reflect.ownKeys(Real)) {
      if (key === "prototype" || key === "name" || key === "length") continue;
      Object.defineProperty(Wrapper, key, Object.getOwnPropertyDescriptor(Real, key)!);
    }
    g[name] = Wrapper;
  };

  /** Wraps method `key` of `proto`: the result's (or the receiver's new) byte length is counted. */
  const wrapMethod = (proto: object | undefined, key: string, grows = false): void => {
    if (!proto) return;
    const d = Object.getOwnPropertyDescriptor(proto, key);
    const real = d?.value as ((...args: unknown[]) => unknown) | undefined;
    if (typeof real !== "function") return;
    const wrapped = {
      [key](this: unknown, ...args: unknown[]) {
        if (grows && typeof args[0] === "number") before(args[0] - byteLengthOf(this));
        const was = grows ? byteLengthOf(this) : 0;
        const r = Reflect.apply(real, this, args);
        after(grows ? byteLengthOf(this) - was : byteLengthOf(r));
        return r;
      },
    }[key]!;
    Object.defineProperty(wrapped, "length", { value: real.length });
    Object.defineProperty(proto, key, { ...d, value: wrapped });
  };

  wrapConstructor("ArrayBuffer", 1);
  wrapConstructor("SharedArrayBuffer", 1);
  for (const name of TYPED_ARRAYS) {
    const C = g[name] as { BYTES_PER_ELEMENT?: number } | undefined;
    if (C) wrapConstructor(name, C.BYTES_PER_ELEMENT ?? 1);
  }
  const abProto = (g.ArrayBuffer as { prototype: object }).prototype;
  for (const m of ["slice", "transfer", "transferToFixedLength"]) wrapMethod(abProto, m);
  wrapMethod(abProto, "resize", true);
  const sabProto = (g.SharedArrayBuffer as { prototype: object } | undefined)?.prototype;
  wrapMethod(sabProto, "slice");
  wrapMethod(sabProto, "grow", true);
  const typedArrayProto = Object.getPrototypeOf((g.Uint8Array as { prototype: object }).prototype) as object;
  for (const m of COPYING_TYPED_ARRAY_METHODS) wrapMethod(typedArrayProto, m);
  wrapMethod((g.TextEncoder as { prototype: object } | undefined)?.prototype, "encode");

  return {
    tick: () => {
      if (pending >= checkEvery / 4) measureNow();
      else if ((++ticks & 255) === 0 && o.now() - measuredAt > backstopMs) measureNow();
    },
    total: () => total,
  };
}
