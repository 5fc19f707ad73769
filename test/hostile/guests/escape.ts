/**
 * A guest program that tries every way out of its realm a hostile author would: host globals,
 * code evaluation, constructor chains from every object the realm was given, stack-trace hooks,
 * timer `this` values, sloppy-mode callers, prototype pollution of what the supervisor shares, and
 * the machine's own functions with values that are not what they expect. Each attempt is recorded
 * as "blocked: <why>" or "ESCAPED: <what it got>", and the whole report is printed as one JSON line.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

type Attempt = () => unknown;
const report: Record<string, string> = {};
const g = globalThis as Record<string, unknown>;

/** An attempt escapes if it returns something with host authority (or anything at all, for `must fail`). */
function attempt(name: string, fn: Attempt, escaped: (v: unknown) => boolean = (v) => v !== undefined): void {
  try {
    const v = fn();
    report[name] = escaped(v) ? `ESCAPED: ${describe(v)}` : `blocked: got ${describe(v)}`;
  } catch (e) {
    report[name] = `blocked: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`.slice(0, 200);
  }
}

function describe(v: unknown): string {
  try {
    return typeof v === "function" ? `function ${v.name}` : typeof v === "object" ? `object` : String(v);
  } catch {
    return "?";
  }
}

/** True for anything that looks like Node's process or a module loader. */
const hostly = (v: unknown): boolean =>
  v !== undefined &&
  v !== null &&
  (typeof v === "object" || typeof v === "function") &&
  ["binding", "kill", "exit", "env", "getBuiltinModule", "resolve", "cache", "dlopen"].some(
    (k) => k in (v as object),
  );

export default async function main(k: KernelHandle): Promise<void> {
  // 1. Host globals, directly and through every evaluator the language has.
  for (const name of ["process", "require", "module", "Buffer", "global", "__dirname", "WebAssembly"])
    attempt(`global ${name}`, () => g[name]);
  attempt("Function('return process')", () =>
    Function("return typeof process === 'undefined' ? undefined : process")(),
  );
  attempt("indirect eval", () => (0, eval)("typeof process === 'undefined' ? undefined : process"));
  attempt(
    "Function('return this') has process",
    () => (Function("return this")() as Record<string, unknown>).process,
  );
  // The image builder rewrites the text `import(` (SES refuses it): neither form loads anything.
  attempt("import() in evaluated code", () => Function("return import('node:fs')")());
  attempt("import() spelled at run time", () => Function(["return imp", "ort('node:fs')"].join(""))());
  attempt("computed dynamic import", () => {
    const name = ["node", "fs"].join(":");
    return Function("n", "return __import__(n)")(name);
  });

  // 2. Constructor chains from everything the realm was given.
  const machine = g.pvkitMachine as Record<string, unknown>;
  const given: Record<string, unknown> = {
    "machine.trap": machine.trap,
    "machine.post": machine.post,
    "machine.takeMail": machine.takeMail,
    "machine.rdtsc": machine.rdtsc,
    setTimeout: g.setTimeout,
    setImmediate: g.setImmediate,
    queueMicrotask: g.queueMicrotask,
    "console.log": (g.console as Record<string, unknown>).log,
    "performance.now": (g.performance as Record<string, unknown>).now,
    "Date.now": Date.now,
    "Atomics.wait": (g.Atomics as Record<string, unknown>).wait,
    SharedArrayBuffer: g.SharedArrayBuffer,
    TextEncoder: g.TextEncoder,
    "k.print": k.print,
  };
  for (const [name, fn] of Object.entries(given)) {
    attempt(`${name}.constructor('return process')`, () =>
      (fn as { constructor: FunctionConstructor }).constructor(
        "return typeof process === 'undefined' ? undefined : process",
      )(),
    );
  }
  attempt("async function constructor", () =>
    Object.getPrototypeOf(async () => {}).constructor("return process")(),
  );
  attempt(
    "generator constructor",
    () =>
      Object.getPrototypeOf(function* () {})
        .constructor("yield process")()
        .next().value,
  );

  // 3. Stack-trace hooks that hand out call sites (their functions and `this` values).
  attempt("Error.prepareStackTrace call sites", () => {
    (Error as unknown as { prepareStackTrace: unknown }).prepareStackTrace = (_e: unknown, s: unknown) => s;
    const stack = new Error().stack as unknown;
    return Array.isArray(stack)
      ? stack.map((c: { getThis?: () => unknown }) => c.getThis?.()).find(hostly)
      : undefined;
  });
  attempt("Error.captureStackTrace", () => {
    const o: { stack?: unknown } = {};
    (Error as unknown as { captureStackTrace: (o: object) => void }).captureStackTrace(o);
    return hostly(o.stack) ? o.stack : undefined;
  });

  // 4. What host code passes to our callbacks: `this`, arguments, and sloppy-mode callers.
  const seen = await new Promise<unknown[]>((resolve) => {
    (g.setTimeout as (f: (...a: unknown[]) => void, ms: number) => void)(function (this: unknown, ...args) {
      let caller: unknown;
      try {
        caller = (Function("return arguments.callee.caller") as () => unknown)();
      } catch {
        caller = undefined; // every function of a compartment is strict
      }
      resolve([this, args.length, caller]);
    }, 1);
  });
  attempt("timer callback this", () => seen[0]);
  attempt("timer callback arguments", () => (seen[1] === 0 ? undefined : seen[1]));
  attempt("sloppy caller of a timer callback", () => seen[2] ?? undefined);
  attempt("setTimeout returns a Node Timeout", () => {
    const t = (g.setTimeout as (f: () => void, ms: number) => unknown)(() => {}, 1000);
    (g.clearTimeout as (t: unknown) => void)(t);
    return typeof t === "number" ? undefined : t;
  });

  // 5. Poisoning what the supervisor also uses (it would then run our code with its own data).
  const poison: Record<string, () => void> = {
    "Array.prototype.push": () => ((Array.prototype as unknown as Record<string, unknown>).push = () => 0),
    "Object.prototype.then": () => ((Object.prototype as Record<string, unknown>).then = () => 0),
    "Promise.prototype.then": () =>
      ((Promise.prototype as unknown as Record<string, unknown>).then = () => 0),
    "Function.prototype.call": () =>
      ((Function.prototype as unknown as Record<string, unknown>).call = () => 0),
    "Atomics.wait": () => ((g.Atomics as Record<string, unknown>).wait = () => "ok"),
    "Atomics.load": () => Object.defineProperty(g.Atomics, "load", { value: () => 2 }),
    "SharedArrayBuffer.prototype.slice": () =>
      ((g.SharedArrayBuffer as { prototype: Record<string, unknown> }).prototype.slice = () => 0),
    "Uint8Array.prototype.set": () =>
      ((Uint8Array.prototype as unknown as Record<string, unknown>).set = () => 0),
    "machine.trap": () => (machine.trap = () => 0n),
    "JSON.stringify": () => ((JSON as unknown as Record<string, unknown>).stringify = () => ""),
  };
  for (const [name, fn] of Object.entries(poison))
    attempt(
      `poison ${name}`,
      () => (fn(), "assigned"),
      (v) => v === "assigned",
    );

  // 6. The machine's own functions with what they do not expect.
  const trap = machine.trap as (...a: unknown[]) => unknown;
  const proxy = new Proxy({}, { get: () => () => "ran inside the trap" });
  attempt(
    "trap with a Proxy register",
    () => trap(17, proxy, 0n, 0n, 0n, 0n),
    () => true,
  );
  attempt(
    "trap with an object op",
    () => trap({ valueOf: () => 17 }, 0n, 0n, 0n, 0n, 0n),
    () => true,
  );
  attempt(
    "trap with a huge op",
    () => trap(2 ** 40, 0n, 0n, 0n, 0n, 0n),
    () => true,
  );
  attempt("takeMail hands out host objects", () => (machine.takeMail as () => unknown[])().find(hostly));
  attempt("machine keys", () => {
    const keys = Reflect.ownKeys(machine).map(String).sort().join(",");
    return keys ===
      "domid,maxPages,post,privileged,rdtsc,runs,sharedInfo,startInfoPfn,takeMail,trap,trapAsync"
      ? undefined
      : keys;
  });

  // 7. The whole global object: nothing but the language and what the supervisor gave.
  attempt("unexpected globals", () => {
    const expected = new Set(
      "Infinity NaN undefined isFinite isNaN parseFloat parseInt decodeURI decodeURIComponent encodeURI encodeURIComponent Array ArrayBuffer BigInt BigInt64Array BigUint64Array Boolean DataView EvalError Int8Array Int16Array Int32Array Map Number Object Promise Proxy RangeError ReferenceError Set String SyntaxError TypeError Uint8Array Uint8ClampedArray Uint16Array Uint32Array URIError WeakMap WeakSet AggregateError JSON Reflect TextEncoder TextDecoder escape unescape lockdown harden Date Error RegExp Symbol Math globalThis Compartment eval Function Float32Array Float64Array Atomics SharedArrayBuffer pvkitMachine performance console setTimeout setInterval setImmediate clearTimeout clearInterval clearImmediate queueMicrotask".split(
        " ",
      ),
    );
    // SES puts Symbol.unscopables on a compartment's global: its scope terminator, not a capability.
    expected.add("Symbol(Symbol.unscopables)");
    const extra = Reflect.ownKeys(globalThis)
      .map(String)
      .filter((k) => !expected.has(k));
    return extra.length ? extra.join(",") : undefined;
  });

  // 8. Everything reachable from the global object — every intrinsic, every endowment, their
  //    prototypes, methods and accessors — is frozen (the supervisor shares them all).
  attempt("an unfrozen object reachable from the global object", () => {
    const seen = new Set<unknown>([globalThis]);
    const todo: [unknown, string][] = Reflect.ownKeys(globalThis).map((k) => [
      Reflect.getOwnPropertyDescriptor(globalThis, k)?.value,
      String(k),
    ]);
    const unfrozen: string[] = [];
    while (todo.length > 0) {
      const [v, path] = todo.pop()!;
      if (v === null || (typeof v !== "object" && typeof v !== "function") || seen.has(v)) continue;
      seen.add(v);
      if (!Object.isFrozen(v)) unfrozen.push(path);
      todo.push([Object.getPrototypeOf(v), `${path}.__proto__`]);
      for (const k of Reflect.ownKeys(v as object)) {
        const d = Reflect.getOwnPropertyDescriptor(v as object, k);
        for (const [part, x] of [
          ["", d?.value],
          [" get", d?.get],
          [" set", d?.set],
        ] as const)
          todo.push([x, `${path}.${String(k)}${part}`]);
      }
    }
    report["objects walked"] = `blocked: got ${seen.size}`;
    return unfrozen.length > 0 ? unfrozen.slice(0, 5).join(", ") : undefined;
  });

  // 9. Time: no fine-grained clock.
  attempt("rdtsc resolution finer than 100 µs", () => {
    const t = (machine.rdtsc as () => bigint)();
    return t % 100_000n === 0n ? undefined : t;
  });

  k.print(JSON.stringify(report));
}
