/** Imports the module that runs host commands. */
import { execSync } from "node:child_process";
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default (k: KernelHandle) => k.print(String(execSync("id")));
