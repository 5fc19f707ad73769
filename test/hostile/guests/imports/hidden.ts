/** Includes a file from a hidden folder of its project (where keys and tokens live). */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import key from "./lib/.secrets/key.json";

export default (k: KernelHandle) => k.print(JSON.stringify(key));
