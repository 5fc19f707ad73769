/**
 * A guest program that tries to take the whole host down through memory the allocation gate cannot
 * see, or to slip past the gate. The road is named on its command line:
 *   string   two flattened 512 MiB strings (V8 grants one far past a worker's heap limit, then
 *            aborts the whole process at the next collection — node#47224)
 *   array    256 MiB double arrays, three of them  bigint   BigInts of 2^30 bits, kept
 *   fill     512 MiB double arrays (Array(n).fill): once aborted the host from any domain, whatever
 *            headroom V8's limit had
 *   split    a 128 MiB string split into 2^27 one-character strings: more elements than V8's arrays
 *            may hold, which V8 answers by aborting the process at once ("Fatal JavaScript invalid
 *            size error") — now the domain's cell alone
 *   parse    eval of 40 MiB of generated source (the parser's zone is many times that)
 *   liar     typed arrays of a subclass whose byteLength getter says 0
 *   listed   a copy of an array-like of 2^32 - 1 doubles (V8 allocates a copy before any check could
 *            see it, then fills it: 32 GiB written by a domain's thread, the host's with cells off)
 *   copies   copies that would pass for views: of a typed array, an array-like and an iterable, by
 *            a subclass whose buffer getter names a buffer that already exists (the gate tells a
 *            view from a copy by its argument, a real buffer, never by what the result says)
 *   resize   resizable buffers that lie about their byteLength, then grow
 *   reserve  resizable buffers reserving terabytes of address space at 0 bytes each
 *   strlen   buffer lengths given as strings (a valueOf read twice could differ)
 *   waiters  hundreds of thousands of pending Atomics.waitAsync (native memory, no heap)
 * It prints what it got; only a refusal or its crash should end it.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

const MiB = 1 << 20;

export default async function main(k: KernelHandle): Promise<void> {
  const mode = /mode=(\w+)/.exec(k.cmdline)?.[1] ?? "string";
  const keep: unknown[] = [];
  k.print(`bombs: ${mode}`);
  try {
    if (mode === "string") {
      for (const c of "ab") {
        const s = c.repeat(2 ** 29 - 24);
        s.indexOf("!"); // flatten: one 512 MiB sequential string
        keep.push(s);
      }
    } else if (mode === "array") {
      for (let i = 0; i < 3; i++) keep.push(Array.from({ length: 2 ** 25 }, () => 1.5));
    } else if (mode === "fill") {
      for (let i = 0; i < 2; i++) keep.push(new Array(2 ** 26).fill(1.5 + i));
    } else if (mode === "split") {
      keep.push("x".repeat(2 ** 27).split(""));
    } else if (mode === "bigint") {
      for (let i = 0; i < 12; i++) keep.push(1n << (2n ** 30n - 2n - BigInt(i)));
    } else if (mode === "parse") {
      const body = Array.from({ length: 2_000_000 }, (_, i) => `x=x+${i};`).join("");
      (0, eval)(`(function(){let x=0;${body}return x})`);
    } else if (mode === "liar") {
      class Liar extends Uint8Array {
        override get byteLength() {
          return 0;
        }
      }
      for (let i = 0; i < 64; i++) keep.push(Uint8Array.prototype.fill.call(new Liar(16 * MiB), 1));
    } else if (mode === "listed") {
      keep.push(new Float64Array({ length: 2 ** 32 - 1 }));
    } else if (mode === "copies") {
      const shared = new Uint8Array(64 * 1024);
      class Posing extends Uint8Array {
        override get buffer(): ArrayBuffer {
          return shared.buffer;
        }
      }
      for (let i = 0; i < 4096; i++) {
        const from = i % 3 === 0 ? shared : i % 3 === 1 ? { length: shared.length } : shared.values();
        keep.push(new Posing(from as ArrayLike<number>).fill(1));
      }
    } else if (mode === "resize") {
      for (let i = 0; i < 64; i++) {
        const b = new ArrayBuffer(0, { maxByteLength: 16 * MiB });
        Object.defineProperty(b, "byteLength", { get: () => 16 * MiB });
        b.resize(16 * MiB);
        new Uint8Array(b).fill(1);
        keep.push(b);
      }
    } else if (mode === "reserve") {
      for (let i = 0; i < 40_000; i++) keep.push(new ArrayBuffer(0, { maxByteLength: 2 ** 32 }));
    } else if (mode === "strlen") {
      for (let i = 0; i < 64; i++) {
        let n = 0;
        const len = { valueOf: () => (n++ === 0 ? 0 : 16 * MiB) }; // small when checked, big when used
        const b = new ArrayBuffer(len as unknown as number);
        new Uint8Array(b).fill(1);
        keep.push(b);
      }
    } else if (mode === "waiters") {
      const w = new Int32Array(new SharedArrayBuffer(4));
      for (let i = 0; i < 400_000; i++) keep.push(Atomics.waitAsync(w, 0, 0, 60_000));
    }
    const bytes = keep.reduce<number>((n, x) => n + ((x as { byteLength?: number }).byteLength ?? 0), 0);
    // Strings, arrays and waiters have no byteLength: that they were all kept is the breach.
    const breached = mode === "strlen" ? bytes > 0 : true;
    k.print(
      `bombs: ${mode} ${breached ? "went through" : "got nothing"} (${keep.length} kept, ${bytes} bytes)`,
    );
  } catch (e) {
    k.print(`bombs: ${mode} refused: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
}
