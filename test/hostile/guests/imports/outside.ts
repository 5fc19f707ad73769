/** Includes a source file from outside its project: the repository's own package.json. */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import pkg from "../../../../package.json";

export default (k: KernelHandle) => k.print(JSON.stringify(pkg));
