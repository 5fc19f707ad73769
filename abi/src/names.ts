/**
 * Names for numbers the ABI defines, taken from the definitions themselves, for logs and tools that
 * say them to people.
 */
import { gntst } from "./defs/grant_table.ts";
import { shutdownReason } from "./defs/sched.ts";

/** A SHUTDOWN_* reason as xl says it ("poweroff", "crash", ...), or "reason N" for an unknown one. */
export function shutdownReasonName(reason: number): string {
  const v = shutdownReason.values.find((c) => c.value === reason && c.name !== "SHUTDOWN_MAX");
  return v ? v.name.slice("SHUTDOWN_".length) : `reason ${reason}`;
}

/** A GNTST_* grant status as its C name ("GNTST_bad_gntref"), or "GNTST N" for an unknown one. */
export function grantStatusName(status: number): string {
  return gntst.values.find((c) => c.value === status)?.name ?? `GNTST ${status}`;
}
