/** Includes a link inside its own folder that points at a host file. */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
// @ts-expect-error: the link's target is not JSON to the type checker
import passwd from "./lib/passwd.json";

export default (k: KernelHandle) => k.print(String(passwd));
