/**
 * The prelude every guest image starts with. Its one concern is speed: see GLOBAL_NAMES.
 */
import { TYPED_ARRAYS } from "../realm/gate.ts";

/**
 * The globals an image uses, bound once as locals of its function. A compartment resolves a free
 * identifier through SES's scope proxy — a trap on every `Atomics`, `BigInt` or `undefined` the
 * kernel names, which made a null hypercall three times slower — while a local is a plain slot.
 * The values are the same objects; only the lookup is cheaper. (A global a program adds itself is
 * still found through the proxy.)
 */
const GLOBAL_NAMES = [
  "undefined",
  "NaN",
  "Infinity",
  "globalThis",
  "Object",
  "Function",
  "Array",
  "Number",
  "String",
  "Boolean",
  "Symbol",
  "BigInt",
  "Math",
  "JSON",
  "Reflect",
  "Proxy",
  "Promise",
  "Date",
  "RegExp",
  "Map",
  "Set",
  "WeakMap",
  "WeakSet",
  "Error",
  "TypeError",
  "RangeError",
  "SyntaxError",
  "ReferenceError",
  "EvalError",
  "URIError",
  "AggregateError",
  "ArrayBuffer",
  "SharedArrayBuffer",
  "DataView",
  "Atomics",
  ...TYPED_ARRAYS.filter((n) => n !== "Float16Array"),
  "parseInt",
  "parseFloat",
  "isNaN",
  "isFinite",
  "encodeURIComponent",
  "decodeURIComponent",
  "encodeURI",
  "decodeURI",
  "TextEncoder",
  "TextDecoder",
  "console",
  "performance",
  "setTimeout",
  "clearTimeout",
  "setInterval",
  "clearInterval",
  "setImmediate",
  "clearImmediate",
  "queueMicrotask",
  "pvkitMachine",
] as const;
/**
 * The `let` that binds them, less `except`: the kernel image, evaluated before its domain has a
 * machine (kernel-image.ts), must look pvkitMachine up when it boots, not bind it when it loads.
 */
export function globalsPrelude(except: readonly string[] = []): string {
  const names = GLOBAL_NAMES.filter((n) => n !== "globalThis" && !except.includes(n));
  return `let ${names.map((n) => `${n} = globalThis.${n}`).join(", ")};`;
}
