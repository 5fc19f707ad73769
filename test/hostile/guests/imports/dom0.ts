/** Imports dom0's privileged services. */
import { privileged } from "@pvkit/guest-kernel/dom0/privileged";
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default (k: KernelHandle) => k.print(typeof privileged);
