/**
 * A raw guest (no kernel) for the trap service's polling window: `calls=N` null hypercalls, each
 * made `gapUs=G` microseconds after the last one's answer, the vCPU busy in between (it computes,
 * as a guest between two requests would), so each comes back to back by the hypervisor's measure
 * yet after any polling has given up. Then it powers off.
 */
import { currentArch } from "@pvkit/guest-kernel/arch/handoff";

const { hc, startInfo } = currentArch();
const arg = (key: string, dflt: number) =>
  Number(new RegExp(`(?:^|\\s)${key}=(\\d+)`).exec(startInfo.cmd_line)?.[1] ?? dflt);
const calls = arg("calls", 200);
const gapMs = arg("gapUs", 100) / 1000;
for (let i = 0; i < calls; i++) {
  const t = performance.now();
  while (performance.now() - t < gapMs);
  hc.xenVersion.version();
}
hc.schedOp.shutdown({ reason: 0 });
