/** Imports a data: URL whose text names node_modules (it once slipped past a substring check). */
// @ts-expect-error: a data: URL has no types
import x from "data:text/javascript,export default '/node_modules/';";
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default (k: KernelHandle) => k.print(String(x));
