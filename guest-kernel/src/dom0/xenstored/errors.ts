/**
 * The one way a xenstored operation fails: throw XsdError with an xsd_errors name. The request
 * dispatcher turns it into an XS_ERROR reply "ENAME\0"; anything else thrown is a server bug that
 * the dispatcher reports as EIO (and logs) instead of crashing the daemon.
 */
import { XSD_ERRORS, type XsdErrorName } from "./abi.ts";

/** A failed request, carrying the error name sent back on the wire. */
export class XsdError extends Error {
  constructor(
    readonly code: XsdErrorName,
    detail?: string,
  ) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = "XsdError";
  }

  /** The negative Xen errno for in-process callers that want numbers. */
  get errno(): number {
    return -(XSD_ERRORS.find((e) => e.errstring === this.code)?.errnum ?? 5);
  }
}

/** Throws XsdError(code) unless `cond` holds: reads like Xen's `if (!x) return EINVAL;`. */
export function check(cond: unknown, code: XsdErrorName, detail?: string): asserts cond {
  if (!cond) throw new XsdError(code, detail);
}
