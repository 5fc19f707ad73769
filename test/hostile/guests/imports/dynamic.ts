/** A dynamic import of a host module with a literal name. */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async (k: KernelHandle) => k.print(typeof (await import("node:fs")).readFileSync);
