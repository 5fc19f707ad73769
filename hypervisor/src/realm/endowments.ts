/**
 * The globals a domU's realm gets beyond the JavaScript language itself: its machine, Atomics and
 * SharedArrayBuffer (which SES leaves out), timers, a coarse clock and a console that writes to the
 * hypervisor's console_io log until the kernel installs its own. Each is a hardened function or
 * object made here, so guest code reaches no Node object through them: timer callbacks are called
 * with `this` undefined and the guest gets numbers back, never Node's Timeout objects (whose linked
 * lists lead to every other timer of the worker).
 *
 * Rule: build after lockdown(); pass in only functions captured from the host before it.
 */
import { CONSOLEIO_write, __HYPERVISOR_console_io } from "@pvkit/abi/layout";
import { type PvkitMachine, SCRATCH_POSTED_BYTES } from "@pvkit/abi/machine";

/** Longest delay a host timer can take (Node clamps anything larger to 1 ms, with a warning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface HostFunctions {
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (t: unknown) => void;
  setInterval: (fn: () => void, ms: number) => unknown;
  clearInterval: (t: unknown) => void;
  setImmediate: (fn: () => void) => unknown;
  clearImmediate: (t: unknown) => void;
  queueMicrotask: (fn: () => void) => void;
}

type Callback = (...args: unknown[]) => unknown;

function callable(fn: unknown, what: string): Callback {
  if (typeof fn !== "function") throw new TypeError(`${what}: the callback must be a function`);
  return fn as Callback;
}

function delay(ms: unknown): number {
  const n = Number(ms);
  return Number.isFinite(n) ? Math.min(Math.max(0, Math.floor(n)), MAX_TIMER_MS) : 0;
}

/**
 * Timer functions with Node's signatures whose handles are plain numbers. `enter` wraps every call
 * into guest code (the supervisor checks memory there).
 */
export function guestTimers(host: HostFunctions, enter: (run: () => void) => void) {
  const live = new Map<number, { kind: "t" | "i" | "m"; handle: unknown }>();
  let nextId = 1;
  const add = (kind: "t" | "i" | "m", make: (id: number) => unknown): number => {
    const id = nextId++;
    live.set(id, { kind, handle: make(id) });
    return id;
  };
  const clear = (id: unknown) => {
    const t = typeof id === "number" ? live.get(id) : undefined;
    if (!t) return;
    live.delete(id as number);
    if (t.kind === "t") host.clearTimeout(t.handle);
    else if (t.kind === "i") host.clearInterval(t.handle);
    else host.clearImmediate(t.handle);
  };
  return {
    setTimeout(fn: unknown, ms?: unknown, ...args: unknown[]): number {
      const f = callable(fn, "setTimeout");
      return add("t", (id) =>
        host.setTimeout(() => {
          live.delete(id);
          enter(() => void Reflect.apply(f, undefined, args));
        }, delay(ms)),
      );
    },
    setInterval(fn: unknown, ms?: unknown, ...args: unknown[]): number {
      const f = callable(fn, "setInterval");
      return add("i", () =>
        host.setInterval(() => enter(() => void Reflect.apply(f, undefined, args)), Math.max(1, delay(ms))),
      );
    },
    setImmediate(fn: unknown, ...args: unknown[]): number {
      const f = callable(fn, "setImmediate");
      return add("m", (id) =>
        host.setImmediate(() => {
          live.delete(id);
          enter(() => void Reflect.apply(f, undefined, args));
        }),
      );
    },
    clearTimeout: clear,
    clearInterval: clear,
    clearImmediate: clear,
    queueMicrotask(fn: unknown): void {
      const f = callable(fn, "queueMicrotask");
      host.queueMicrotask(() => void Reflect.apply(f, undefined, []));
    },
  };
}

/** Most Atomics.waitAsync waiters a domU may have pending (each holds native memory off its heap). */
export const MAX_ASYNC_WAITERS = 4096;

/**
 * The realm's Atomics: the real one's functions, except waitAsync, whose pending waiters are
 * counted and capped — each is a native list node and, with a timeout, a native timer, none of it
 * on the JS heap or in an ArrayBuffer, so neither V8's limit nor the allocation gate would see
 * hundreds of thousands of them. Over the cap it throws RangeError, as an allocation failure does.
 */
export function guestAtomics(): typeof Atomics {
  let pending = 0;
  const settle = () => void pending--;
  const copy = Object.create(Object.getPrototypeOf(Atomics) as object) as Record<PropertyKey, unknown>;
  // Atomics is already frozen: copy its properties as fresh, configurable ones (harden() freezes the copy).
  for (const key of Reflect.ownKeys(Atomics))
    Object.defineProperty(copy, key, {
      ...Object.getOwnPropertyDescriptor(Atomics, key)!,
      configurable: true,
    });
  const realWaitAsync = Atomics.waitAsync;
  Object.defineProperty(copy, "waitAsync", {
    value: function waitAsync(...args: Parameters<typeof Atomics.waitAsync>) {
      if (pending >= MAX_ASYNC_WAITERS)
        throw new RangeError(`too many pending Atomics.waitAsync waiters (at most ${MAX_ASYNC_WAITERS})`);
      const r = Reflect.apply(realWaitAsync, Atomics, args) as ReturnType<typeof Atomics.waitAsync>;
      if (r.async) {
        pending++;
        void r.value.then(settle, settle);
      }
      return r;
    },
    writable: true,
    configurable: true,
  });
  return copy as unknown as typeof Atomics;
}

/** Bytes of a line per console_io write: the scratch page but its posted notifies' bytes. */
const EARLY_CONSOLE_CHUNK = 4096 - SCRATCH_POSTED_BYTES;

/**
 * A console for the realm until the kernel sets its own: lines go to console_io (`pvkit dmesg`).
 * `machine` is read at each write: a realm made ahead of its domain (a pooled worker) has none yet,
 * and drops what is written before it has one.
 */
export function earlyConsole(machine: () => PvkitMachine | undefined) {
  const enc = new TextEncoder();
  const write = (...args: unknown[]) => {
    const m = machine();
    if (!m) return;
    const line = args.map((a) => (typeof a === "string" ? a : String(a))).join(" ") + "\n";
    const bytes = enc.encode(line);
    // console_io writes from guest memory; before the kernel exists there is no allocator, so use
    // the scratch page of pvkit's boot layout (pfn 3), as the kernel's own early printk does — up
    // to the posted notifies' bytes at its end, which a notify still unanswered may be using.
    const run = m.runs.find((r) => r.pfn <= 3 && 3 < r.pfn + r.buf.byteLength / 4096);
    if (!run) return;
    const page = new Uint8Array(run.buf, (3 - run.pfn) * 4096, EARLY_CONSOLE_CHUNK);
    for (let off = 0; off < bytes.length; off += EARLY_CONSOLE_CHUNK) {
      const part = bytes.subarray(off, off + EARLY_CONSOLE_CHUNK);
      page.set(part);
      m.trap(__HYPERVISOR_console_io, BigInt(CONSOLEIO_write), BigInt(part.length), 3n * 4096n, 0n, 0n);
    }
  };
  return { log: write, info: write, warn: write, error: write, debug: write };
}

/**
 * performance.now() at the machine's TSC resolution (rounded up, like rdtsc): milliseconds since
 * `start` (the domain's start; a realm made ahead of its domain calls it once it has one). `hostNow`
 * is the host's performance.now, captured before lockdown. `clock` is the realm's; `start` is not.
 */
export function coarsePerformance(hostNow: () => number) {
  let t0 = hostNow();
  let res = 0;
  return {
    clock: {
      now: () => (res > 0 ? Math.ceil((hostNow() - t0) / res) * res : hostNow() - t0),
      timeOrigin: 0,
    },
    start(resolutionNs: number): void {
      t0 = hostNow();
      res = resolutionNs / 1e6;
    },
  };
}
