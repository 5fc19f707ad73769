/**
 * A hypercall the toolstack made on a user's behalf failed: say why in words, as the CLI's one line
 * `pvkit: <what>: <why>` needs. The hypervisor answers in Xen's errno values (XenError); a user should
 * never read "-ESRCH (-3)". The common ones get words in the toolstack's terms; any other errno gets
 * the sentence the ABI's errno definitions give it.
 */
import { XenError } from "@pvkit/abi";
import { xenErrno } from "@pvkit/abi/defs/errno";

/** What an errno means when the toolstack was operating on a domain. */
const IN_WORDS: Record<string, string> = {
  ESRCH: "it is not running (it has shut down, or is gone)",
  EINVAL: "the hypervisor refused the request as invalid for this domain",
  ENOMEM: "not enough memory on the host",
  EPERM: "not allowed",
  EACCES: "permission denied",
  EEXIST: "already exists",
  EBUSY: "busy; try again",
  EAGAIN: "busy; try again",
  ENOSPC: "no room left",
  E2BIG: "too large",
  EFAULT: "a bad address in the toolstack's request",
  ENOSYS: "not supported by this hypervisor",
};

/** `e` as words when it is a hypervisor error, else undefined. */
export function hypervisorErrorWords(e: unknown): string | undefined {
  if (!(e instanceof XenError)) return undefined;
  const known = IN_WORDS[e.errnoName];
  if (known) return known;
  const doc = xenErrno.values.find((v) => v.value === e.errno)?.doc;
  return doc ? doc.replace(/\.\s*(Aliases .*)?$/, "").toLowerCase() : "the hypervisor refused the request";
}

/** The one line a failed control request answers with: "<op> <domain>: <why>" for a hypervisor error. */
export function failureLine(req: { op: string; domain?: unknown }, e: unknown): string {
  const words = hypervisorErrorWords(e);
  if (words === undefined) return e instanceof Error ? e.message : String(e);
  return `${req.op}${req.domain === undefined ? "" : ` ${String(req.domain)}`}: ${words}`;
}
