/** Its own helper file imports the host module: an allow-list checks every file, not just the entry. */
import { run } from "./lib/evil.ts";
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default (k: KernelHandle) => k.print(run());
