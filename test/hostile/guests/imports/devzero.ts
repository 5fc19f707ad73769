/** Asks the image builder to read an endless file (once, it ate the host's memory at 700 MiB/s). */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
// @ts-expect-error: no types for a device
import zero from "/dev/zero";

export default (k: KernelHandle) => k.print(String(zero).length);
