/** Imports a CommonJS file of its own that requires child_process (tsx once ran such files unchecked). */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
// @ts-expect-error: a .cjs file without types
import cp from "./lib/uses-child.cjs";

export default (k: KernelHandle) => k.print(typeof cp);
