/**
 * A guest program that hoards memory outside the JS heap, by the road named on its command line:
 *   ab      new ArrayBuffer, touched          slice   copies of one buffer, by slice()
 *   sab     new SharedArrayBuffer, touched    encode  TextEncoder.encode of a long string
 *   typed   new Float64Array, touched         from    Uint8Array.from(another)
 * It keeps everything, so only its memory bound can stop it. First it asks for one buffer larger
 * than its whole bound, which must be refused like a failed allocation (a RangeError), not granted.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

const MiB = 1 << 20;

export default async function main(k: KernelHandle): Promise<void> {
  const mode = /mode=(\w+)/.exec(k.cmdline)?.[1] ?? "ab";
  try {
    new ArrayBuffer(2 ** 32);
    k.print("hoard: a 4 GiB buffer was granted");
  } catch (e) {
    k.print(`hoard: a 4 GiB buffer was refused: ${e instanceof RangeError ? "RangeError" : String(e)}`);
  }
  const keep: unknown[] = [];
  const one = new Uint8Array(4 * MiB).fill(1);
  const text = "x".repeat(4 * MiB);
  k.print(`hoard: ${mode}`);
  for (let i = 0; ; i++) {
    let b: { byteLength: number };
    if (mode === "ab") new Uint8Array((b = new ArrayBuffer(4 * MiB))).fill(i);
    else if (mode === "sab") new Uint8Array((b = new SharedArrayBuffer(4 * MiB))).fill(i);
    else if (mode === "typed") b = new Float64Array(MiB / 2).fill(i);
    else if (mode === "slice") b = one.slice();
    else if (mode === "encode") b = new TextEncoder().encode(text);
    else b = Uint8Array.from(one);
    keep.push(b);
    if (i % 16 === 0) await k.sleep(0); // yield now and then, as a real program would
  }
}
