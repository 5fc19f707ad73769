/**
 * A guest program: the smallest thing a domain can run as init. It prints, sleeps, reads and
 * writes xenstore, and returns -- and when main returns, the kernel powers the domain off.
 * Run it: `pnpm pvkit up &` then `pnpm pvkit create -c examples/configs/hello.cfg`.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  k.print(`Hello from domain ${k.domid}!`);
  const name = (await k.xenstore.tryRead("name")) ?? "(no name)";
  k.print(`my xenstore name is ${name}`);
  const t0 = k.time.uptimeMs();
  await k.sleep(20);
  k.print(`slept ${Math.round(k.time.uptimeMs() - t0)} ms`);
  await k.xenstore.write("data/hello", "world");
  k.print(`wrote data/hello = ${await k.xenstore.read("data/hello")}`);
  k.print("bye");
}
