/**
 * The allocation gate: bounds a domain's JavaScript memory (heap plus ArrayBuffers) synchronously,
 * at the moment it allocates, instead of noticing later. V8 caps a worker's heap (resourceLimits) but
 * not the ArrayBuffer memory outside it: a guest could hold gigabytes in buffers. So before lockdown
 * the supervisor replaces every intrinsic that makes a backing store — the ArrayBuffer,
 * SharedArrayBuffer and typed-array constructors, and the methods that copy (slice, map, filter,
 * toSorted, transfer, TextEncoder.encode) — with wrappers that count the bytes made. Every
 * `checkEvery` bytes, or when one request is larger than what is left, the gate reads the worker's
 * real usage (process.memoryUsage: heap used + ArrayBuffers), collects garbage once if that is over
 * the bound, and calls `over` if it still is. lockdown then freezes the wrappers as the intrinsics,
 * so guest code can neither remove them nor reach the originals (they live only in this closure).
 *
 * Everything the gate learns about a request or a result it learns once, from the built-in getters
 * captured here — never through the object's own prototype chain (a guest subclass would lie about
 * its size) and never by reading an argument twice (a valueOf could answer differently the second
 * time). A resizable or growable buffer counts its maximum length when it is made, for as long as it
 * lives: that is what it may grow to, and what V8 reserves of the process's address space — and its
 * memory is not in process.memoryUsage at all, so the gate keeps that tally itself.
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
  /** Called after every real measurement with the bytes in use (the supervisor publishes it). */
  measured?: (usedBytes: number) => void;
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

/** Every typed-array constructor the language has (Float16Array where the engine has it). */
export const TYPED_ARRAYS = [
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

type Getter = (this: unknown) => unknown;

/** The built-in getter `key` of `proto`, captured before anyone can replace it. */
function getter(proto: object | undefined, key: string): Getter | undefined {
  return proto ? (Object.getOwnPropertyDescriptor(proto, key)?.get as Getter | undefined) : undefined;
}

/** ECMAScript ToLength: a number (a BigInt is a TypeError), integral, clamped to [0, 2^53 - 1]. */
function toLength(v: unknown): number {
  const n = Math.trunc(+(v as number));
  return Number.isNaN(n) || n <= 0 ? 0 : Math.min(n, Number.MAX_SAFE_INTEGER);
}

/**
 * ECMAScript ToIndex: NaN → 0, no negatives, integral. Unary plus, not Number(), is the spec's
 * ToNumber: a BigInt is a TypeError there, as in the constructors (Number(5n) is 5).
 */
function toIndex(v: unknown): number {
  const n = +(v as number);
  const i = Number.isNaN(n) ? 0 : Math.trunc(n);
  if (i < 0 || i > Number.MAX_SAFE_INTEGER) throw new RangeError("Invalid array buffer length");
  return i;
}

export function installAllocationGate(o: GateOptions): Gate {
  const checkEvery = o.checkEvery ?? 1 << 20;
  const backstopMs = o.backstopMs ?? 100;
  let pending = 0;
  let total = 0;
  let lastUsed = 0;
  let ticks = 0;
  let measuredAt = o.now();
  /** Bytes reserved by live resizable/growable buffers (V8 keeps them outside Node's accounting). */
  let reserved = 0;
  const reservations = new FinalizationRegistry<number>((bytes) => void (reserved -= bytes));
  const g = globalThis as unknown as Record<string, unknown>;

  // The built-in getters, before anything is wrapped or frozen.
  const AB = g.ArrayBuffer as { prototype: object; isView: (x: unknown) => boolean };
  const SAB = g.SharedArrayBuffer as { prototype: object } | undefined;
  const typedArrayProto = Object.getPrototypeOf((g.Uint8Array as { prototype: object }).prototype) as object;
  const abMax = getter(AB.prototype, "maxByteLength") ?? getter(AB.prototype, "byteLength")!;
  const sabMax = getter(SAB?.prototype, "maxByteLength") ?? getter(SAB?.prototype, "byteLength");
  const viewBytes = getter(typedArrayProto, "byteLength")!;
  const viewLength = getter(typedArrayProto, "length")!;
  const isView = AB.isView;
  const protoOf = Object.getPrototypeOf;

  /** A typed array's length, from the built-in getter; undefined for a DataView. */
  const typedLength = (x: unknown): number | undefined => {
    try {
      return Reflect.apply(viewLength, x, []) as number;
    } catch {
      return undefined;
    }
  };

  /**
   * `x`'s maximum length if it is an ArrayBuffer or a SharedArrayBuffer, asked of the built-in
   * getters; undefined if it is neither. Its prototype only says which to ask first, so that a real
   * buffer of either kind costs no exception; any other object costs one or two (~7 µs each: the
   * wrapper sends arrays elsewhere before asking), never a wrong answer.
   */
  const bufferMax = (x: unknown): number | undefined => {
    const shared =
      sabMax !== undefined && x !== null && typeof x === "object" && protoOf(x) === SAB!.prototype;
    return maxBy(shared ? sabMax : abMax, x) ?? maxBy(shared ? abMax : sabMax, x);
  };
  /** `get` (a buffer kind's length getter) applied to `x`, or undefined if `x` is not that kind. */
  const maxBy = (get: Getter | undefined, x: unknown): number | undefined => {
    if (!get) return undefined;
    try {
      return Reflect.apply(get, x, []) as number;
    } catch {
      return undefined;
    }
  };

  /**
   * What a method's result holds, from the built-ins only: a typed array's length in bytes (the
   * copying methods return a fresh one, whose buffer holds just that), a buffer's maximum length.
   * Not a typed array's `buffer`: V8 keeps a typed array of up to 64 bytes inside its object, and
   * asking for its buffer makes one outside the heap — a malloc'd backing store and a tracked
   * extension for every small copy (it made `slice` of 64 bytes ten times slower).
   */
  const bytesOf = (x: unknown): number => {
    if (x === null || (typeof x !== "object" && typeof x !== "function")) return 0;
    if (isView(x)) {
      try {
        return Reflect.apply(viewBytes, x, []) as number;
      } catch {
        return 0; // a DataView: it allocates nothing
      }
    }
    return bufferMax(x) ?? 0;
  };
  const measureNow = (): void => {
    pending = 0;
    measuredAt = o.now();
    let m = o.measure();
    let used = m.heapUsed + m.arrayBuffers + reserved;
    if (used > o.limitBytes && o.gc) {
      // Dead buffers are freed only by a collection, which V8 starts late (tens of MiB of external
      // memory): collect before calling a domain that churns through buffers a hog.
      o.gc();
      m = o.measure();
      used = m.heapUsed + m.arrayBuffers + reserved;
    }
    lastUsed = used;
    o.measured?.(used);
    if (used > o.limitBytes) o.over(used, o.limitBytes);
  };

  /**
   * Called before an allocation of `bytes`. One that cannot fit is refused the way V8 refuses a
   * failed allocation (RangeError): the domain never goes past its bound for it.
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

  /**
   * Reads a buffer constructor's size arguments once, checks them, and returns the arguments to
   * pass on: the length as a number, and options as a fresh object holding only maxByteLength.
   */
  const bufferArgs = (length0: unknown, opts: unknown): [number] | [number, { maxByteLength: number }] => {
    const length = toIndex(length0);
    let max: number | undefined;
    if (opts !== null && (typeof opts === "object" || typeof opts === "function")) {
      const m = (opts as { maxByteLength?: unknown }).maxByteLength;
      if (m !== undefined) max = toIndex(m);
    }
    before(Math.max(length, max ?? 0));
    return max === undefined ? [length] : [length, { maxByteLength: max }];
  };

  /** Replaces constructor `name` by a wrapper that is, to every program, the same constructor. */
  const wrapConstructor = (name: string, elementSize: number, isBufferCtor: boolean): void => {
    const Real = g[name] as (new (...args: unknown[]) => object) | undefined;
    if (typeof Real !== "function") return;
    const maxOf = name === "SharedArrayBuffer" ? sabMax : abMax;
    // Arguments are read here once; what is passed on is what was checked. Named parameters, not a
    // rest array: every subarray() comes through here (the wrapper is its species constructor).
    const Wrapper = function (this: unknown, a0?: unknown, a1?: unknown, a2?: unknown) {
      if (new.target === undefined) throw new TypeError(`Constructor ${name} requires 'new'`);
      const target = new.target === Wrapper ? Real : new.target;
      if (isBufferCtor) {
        const passed = bufferArgs(a0, a1);
        const made = Reflect.construct(Real, passed, target);
        const bytes = maxOf ? (Reflect.apply(maxOf, made, []) as number) : 0;
        if (passed.length === 2) {
          // Resizable: its maximum is reserved now and held until the buffer is collected.
          reserved += bytes;
          reservations.register(made, bytes);
        }
        after(bytes);
        return made;
      }
      // Not an object: a length. A function is an object to the constructor, an array-like read by
      // its `length`, and never a buffer or a typed array.
      if (typeof a0 === "function") return fromList(a0, target);
      if (a0 === null || typeof a0 !== "object") return ofLength(toIndex(a0), target);
      // Another typed array is copied: what the copy holds is its length, asked of the built-in
      // getter, checked before V8 allocates (a DataView is no typed array: it is a list, below).
      const copied = isView(a0) ? typedLength(a0) : undefined;
      if (copied !== undefined) before(copied * elementSize);
      else if (Array.isArray(a0) || bufferMax(a0) === undefined) return fromList(a0, target);
      // A buffer (a view over it) or a typed array (copied). Extra arguments are passed as given:
      // undefined is what the constructor reads when absent.
      const made = target === Real ? new Real(a0, a1, a2) : Reflect.construct(Real, [a0, a1, a2], target);
      // A view of a buffer allocates nothing: its buffer is the very one passed, whatever the
      // subclass (every subarray() comes this way, so it asks the result nothing). A copy's buffer is
      // fresh, and counted by what it holds, read of the result with the built-in getter: the size
      // V8 made, whatever a subclass's getters did since the check above.
      if (copied !== undefined) after(Reflect.apply(viewBytes, made, []) as number);
      return made;
    };
    /**
     * An array-like or an iterable, copied as the constructor would (the iterator first if it has
     * one, else `length` and each index), but its length known before anything is allocated: V8
     * allocates the copy first and fills it, and `{ length: 2 ** 32 }` made a domain's thread write
     * 32 GiB before any check could see it. One that cannot fit is refused as V8 refuses a failed
     * allocation.
     */
    const fromList = (list: object, target: unknown): object => {
      const method = (list as { [Symbol.iterator]?: unknown })[Symbol.iterator];
      let values: unknown[] | undefined;
      let length: number;
      if (method !== undefined && method !== null) {
        if (typeof method !== "function")
          throw new TypeError(`${name}: the source's iterator is not a function`);
        values = [];
        for (const v of { [Symbol.iterator]: () => Reflect.apply(method, list, []) as Iterator<unknown> })
          values.push(v);
        length = values.length;
      } else length = toLength((list as { length?: unknown }).length);
      const made = ofLength(length, target);
      const into = made as Record<number, unknown>;
      const from = list as Record<number, unknown>;
      for (let k = 0; k < length; k++) into[k] = values ? values[k] : from[k];
      return made;
    };
    /**
     * A typed array of `length` elements: what it costs is known before it is made, and counted
     * without asking the result.
     */
    const ofLength = (length: number, target: unknown): object => {
      before(length * elementSize);
      const made = target === Real ? new Real(length) : Reflect.construct(Real, [length], target as Function);
      after(length * elementSize);
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

  /** Wraps method `key` of `proto`: what its result holds is counted (`sized`: arg 0 is a length). */
  const wrapMethod = (proto: object | undefined, key: string, sized = false): void => {
    if (!proto) return;
    const d = Object.getOwnPropertyDescriptor(proto, key);
    const real = d?.value as ((...args: unknown[]) => unknown) | undefined;
    if (typeof real !== "function") return;
    const wrapped = {
      [key](this: unknown, ...args: unknown[]) {
        if (sized && args[0] !== undefined) {
          args[0] = toIndex(args[0]);
          before(args[0] as number);
        }
        const r = Reflect.apply(real, this, args);
        after(bytesOf(r));
        return r;
      },
    }[key]!;
    Object.defineProperty(wrapped, "length", { value: real.length });
    Object.defineProperty(proto, key, { ...d, value: wrapped });
  };

  wrapConstructor("ArrayBuffer", 1, true);
  wrapConstructor("SharedArrayBuffer", 1, true);
  for (const name of TYPED_ARRAYS) {
    const C = g[name] as { BYTES_PER_ELEMENT?: number } | undefined;
    if (C) wrapConstructor(name, C.BYTES_PER_ELEMENT ?? 1, false);
  }
  // resize() and grow() need no wrapper: a resizable buffer was counted at its maximum.
  wrapMethod(AB.prototype, "slice");
  wrapMethod(AB.prototype, "transfer", true);
  wrapMethod(AB.prototype, "transferToFixedLength", true);
  wrapMethod(SAB?.prototype, "slice");
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
