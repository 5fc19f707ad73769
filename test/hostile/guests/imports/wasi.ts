/** Imports WASI (host file descriptors). */
import { WASI } from "node:wasi";
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default (k: KernelHandle) => k.print(typeof WASI);
