/**
 * A guest that goes idle — long enough for its activity sampler to doze (hypervisor/src/realm/doze.ts)
 * — and, woken by an event on the port it opened, answers and then spins forever from the event's
 * handler. The hang watchdog must stop it all the same.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  const port = k.events.allocUnbound(k.domid, () => {
    k.print("doze-spin: woken, spinning");
    let x = 0;
    for (;;) x = (x + 1) | 0;
  });
  k.print(`idle: up in domain ${k.domid}, port ${port}`);
  await new Promise<never>(() => {});
}
