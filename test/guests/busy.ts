/**
 * A busy guest for `pvkit top`: half of every 10 ms it makes hypercalls (xen_version, the cheapest),
 * the other half it sleeps, so it is busy without tripping the hang watchdog; every 100 ms it prints
 * a line, which notifies the console back end (an event sent).
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  k.print(`busy: up in domain ${k.domid}`);
  for (let round = 0; ; round++) {
    const until = k.time.uptimeMs() + 5;
    while (k.time.uptimeMs() < until) k.hc.xenVersion.version();
    if (round % 10 === 0) k.print(`busy: round ${round}`);
    await k.time.sleep(5);
  }
}
