/**
 * A guest that goes idle on an Atomics.waitAsync with a timeout and, once it ends, grows its heap as
 * fast as it can without ever passing a checkpoint. The end of that wait runs guest code without
 * passing the supervisor, so its dozing sampler hears nothing from the worker
 * (hypervisor/src/domain/doze-watch.ts); with cells off the host's memory watch must still stop it
 * long before V8's heap limit, where the whole host would abort.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  const word = new Int32Array(new SharedArrayBuffer(4));
  const ms = Number(/wait=(\d+)/.exec(k.cmdline)?.[1] ?? 2000);
  k.print(`idle: up in domain ${k.domid}, waiting ${ms} ms`);
  await Atomics.waitAsync(word, 0, 0, ms).value;
  const keep: number[][] = [];
  for (let i = 0; ; i++) keep.push(new Array(1 << 17).fill(i + 0.5)); // 1 MiB a step, kept
}
