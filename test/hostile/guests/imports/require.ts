/** Reaches for CommonJS require inside an ES module. */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

const cp = require("child_process") as { execSync(c: string): unknown };

export default (k: KernelHandle) => k.print(String(cp.execSync("id")));
