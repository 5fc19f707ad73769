/**
 * Object.freeze, done the way the spec writes it down — prevent extensions, then make each own
 * property non-configurable (and data properties non-writable) — instead of by V8's built-in.
 *
 * Why: lockdown freezes every intrinsic, Object.prototype and %TypedArray%.prototype among them, and
 * V8 marks an object frozen by its built-in with "frozen elements", after which every store into a
 * typed array — any typed array, the kernel's rings and the trap's registers included — takes a slow
 * path: measured on Node 20, 1.6 ns became 40 ns a store, and a null hypercall twice as slow. The
 * same integrity reached property by property leaves V8's fast path alone. The result is frozen by
 * every test the language has (Object.isFrozen, assignment throws in strict code, defineProperty
 * fails), which is what lockdown needs; test/hostile/guests/escape.ts walks every intrinsic a guest
 * can reach and checks it.
 *
 * Rule: install before SES is loaded — SES captures Object.freeze when it loads and hardens with it.
 */

/** SetIntegrityLevel(O, "frozen"), step by step. Throws where Object.freeze throws. */
function freeze<T>(o: T): T {
  if (o === null || (typeof o !== "object" && typeof o !== "function")) return o;
  const obj = o as object;
  if (!Reflect.preventExtensions(obj)) throw new TypeError("Cannot freeze: object is not extensible");
  for (const key of Reflect.ownKeys(obj)) {
    const d = Reflect.getOwnPropertyDescriptor(obj, key);
    if (!d) continue;
    const frozen: PropertyDescriptor =
      "value" in d ? { configurable: false, writable: false } : { configurable: false };
    Object.defineProperty(obj, key, frozen);
  }
  return o;
}

/**
 * Replaces Object.freeze with the spec's steps (a strict method: no own `caller`/`arguments`) —
 * except for an ordinary array that is not Array.prototype, which V8's built-in freezes as well and
 * far faster: the slow path above comes from frozen elements on a *prototype* of typed arrays, and
 * an array no engine object inherits from is none. (A domain's machine holds an array of one
 * buffer per page: 2048 of them for 8 MiB, ~10 ms property by property.)
 */
export function installSpecFreeze(): void {
  const nativeFreeze = Object.freeze;
  const isArray = Array.isArray;
  const arrayPrototype = Array.prototype;
  const { freeze: specFreeze } = {
    freeze<T>(o: T): T {
      return isArray(o) && o !== arrayPrototype ? nativeFreeze(o) : freeze(o);
    },
  };
  Object.defineProperty(Object, "freeze", { value: specFreeze, writable: true, configurable: true });
}
