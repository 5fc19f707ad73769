/** A guest whose init throws: the domain must crash alone (SHUTDOWN_crash) with the error recorded. */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  k.print("throws: about to fail");
  throw new Error("deliberate guest failure");
}
