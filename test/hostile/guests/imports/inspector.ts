/** Imports the inspector (it once ran code on the hypervisor's thread). */
import { Session } from "node:inspector";
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default (k: KernelHandle) => k.print(typeof Session);
