/**
 * A guest that goes idle on an Atomics.waitAsync with a timeout, and spins once it ends. The end of
 * that wait runs guest code without passing the supervisor — no trap, no timer of the supervisor's —
 * so a dozing activity sampler cannot hear of it from the worker (hypervisor/src/realm/doze.ts); the
 * hang watchdog must stop it all the same.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  const word = new Int32Array(new SharedArrayBuffer(4));
  const ms = Number(/wait=(\d+)/.exec(k.cmdline)?.[1] ?? 2000);
  k.print(`idle: up in domain ${k.domid}, waiting ${ms} ms`);
  await Atomics.waitAsync(word, 0, 0, ms).value;
  let x = 0;
  for (;;) x = (x + 1) | 0;
}
