/** Imports an npm package from the repository's node_modules. */
import { vi } from "vitest";
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default (k: KernelHandle) => k.print(typeof vi);
