/**
 * The density bench's guest (test/bench/density.ts): boots, opens one event-channel port and sits
 * idle in SCHEDOP_block, as test/guests/idle.ts does. Each event on the port wakes it, and it
 * answers on its console with one line; that is how the bench proves every guest still answers once
 * a thousand are up.
 *
 * The port's other end is the guest itself (remote domain = its own id): the bench has no dom0 to
 * hold it, so the host binds a second port of this domain to it and sends from there, which is an
 * event exactly as a peer's would be.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  let answers = 0;
  const port = k.events.allocUnbound(k.domid, () => k.print(`answer ${++answers}`));
  k.print(`idle: up in domain ${k.domid}, port ${port}`);
  await new Promise<never>(() => {});
}
