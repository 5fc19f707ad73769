/** Reads the image builder's environment (the host's) through /proc. */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
// @ts-expect-error: a text import has no types
import env from "/proc/self/environ" with { type: "text" };

export default (k: KernelHandle) => k.print(String(env));
