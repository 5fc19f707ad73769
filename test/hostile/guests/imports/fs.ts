/** Imports a host module by its bare name. */
import { readFileSync } from "fs";
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default (k: KernelHandle) => k.print(typeof readFileSync);
