/** Reads a host file into the image as text through an import attribute. */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
// @ts-expect-error: a text import has no types
import passwd from "/etc/passwd" with { type: "text" };

export default (k: KernelHandle) => k.print(String(passwd));
