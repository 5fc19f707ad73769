/** Imports node:test (it spawns processes). */
import { run } from "node:test";
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default (k: KernelHandle) => k.print(typeof run);
