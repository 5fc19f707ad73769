/**
 * A raw benchmark guest (no kernel): times HYPERVISOR_xen_version(XENVER_version), the null
 * hypercall, back to back (busy) and with a 2 ms pause between calls (idle, so the hypervisor has
 * gone to sleep on its doorbell), and reports the samples as one JSON line on console_io. How many
 * of each: `busy=N idle=M` on the command line (default 20000 and 300); `idleWarm=W` idle calls are
 * made first and not timed (the sleeping paths are not the busy ones, and warm up on their own).
 */
import { currentArch } from "@pvkit/guest-kernel/arch/handoff";

const { hc, startInfo } = currentArch();
const arg = (key: string, dflt: number) =>
  Number(new RegExp(`(?:^|\\s)${key}=(\\d+)`).exec(startInfo.cmd_line)?.[1] ?? dflt);
const N = arg("busy", 20000);
const IDLE_N = arg("idle", 300);
const IDLE_WARM = arg("idleWarm", 0);
const busy: number[] = [];
for (let i = 0; i < N; i++) {
  const t0 = performance.now();
  hc.xenVersion.version();
  busy.push((performance.now() - t0) * 1000);
}
const idle: number[] = [];
const nap = new Int32Array(new SharedArrayBuffer(4));
for (let i = 0; i < IDLE_WARM + IDLE_N; i++) {
  Atomics.wait(nap, 0, 0, 2);
  const t0 = performance.now();
  hc.xenVersion.version();
  if (i >= IDLE_WARM) idle.push((performance.now() - t0) * 1000);
}
const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], p99: s[Math.floor(s.length * 0.99)], n: s.length };
};
const line = JSON.stringify({ busy: summary(busy.slice(N / 10)), idle: summary(idle) }) + "\n";
hc.consoleIo.write(new TextEncoder().encode(line));
hc.schedOp.shutdown({ reason: 0 });
