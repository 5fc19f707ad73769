/**
 * The xs_wire.h facts xenstored uses, from the ABI (@pvkit/abi/layout, generated from abi/src/defs/
 * xs_wire.ts and checked against Xen's header), plus the two shapes the ABI has no form for: the
 * xsd_errors table and the ring page's offsets as one object.
 */
import { XenstoreDomainInterface, XsdSockmsg } from "@pvkit/abi/layout";

export {
  XS_CONTROL,
  XS_DEBUG,
  XS_DIRECTORY,
  XS_READ,
  XS_GET_PERMS,
  XS_WATCH,
  XS_UNWATCH,
  XS_TRANSACTION_START,
  XS_TRANSACTION_END,
  XS_INTRODUCE,
  XS_RELEASE,
  XS_GET_DOMAIN_PATH,
  XS_WRITE,
  XS_MKDIR,
  XS_RM,
  XS_SET_PERMS,
  XS_WATCH_EVENT,
  XS_ERROR,
  XS_IS_DOMAIN_INTRODUCED,
  XS_RESUME,
  XS_SET_TARGET,
  XS_RESET_WATCHES,
  XS_DIRECTORY_PART,
  XS_TYPE_COUNT,
  XS_INVALID,
  XS_WATCH_PATH,
  XS_WATCH_TOKEN,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_ABS_PATH_MAX,
  XENSTORE_REL_PATH_MAX,
  XENSTORE_RING_SIZE,
  XENSTORE_SERVER_FEATURE_RECONNECTION,
  XENSTORE_SERVER_FEATURE_ERROR,
  XENSTORE_CONNECTED,
  XENSTORE_RECONNECT,
  XENSTORE_ERROR_NONE,
  XENSTORE_ERROR_COMM,
  XENSTORE_ERROR_RINGIDX,
  XENSTORE_ERROR_PROTO,
} from "@pvkit/abi/layout";

/** sizeof(struct xsd_sockmsg): type, req_id, tx_id, len, all u32 little-endian. */
export const XSD_SOCKMSG_SIZE = XsdSockmsg.size;

/** xsd_errors[], in the header's order, with Xen's (= Linux's) errno numbers. */
export const XSD_ERRORS = [
  { errnum: 22, errstring: "EINVAL" },
  { errnum: 13, errstring: "EACCES" },
  { errnum: 17, errstring: "EEXIST" },
  { errnum: 21, errstring: "EISDIR" },
  { errnum: 2, errstring: "ENOENT" },
  { errnum: 12, errstring: "ENOMEM" },
  { errnum: 28, errstring: "ENOSPC" },
  { errnum: 5, errstring: "EIO" },
  { errnum: 39, errstring: "ENOTEMPTY" },
  { errnum: 38, errstring: "ENOSYS" },
  { errnum: 30, errstring: "EROFS" },
  { errnum: 16, errstring: "EBUSY" },
  { errnum: 11, errstring: "EAGAIN" },
  { errnum: 106, errstring: "EISCONN" },
  { errnum: 7, errstring: "E2BIG" },
  { errnum: 1, errstring: "EPERM" },
] as const;

/** One of the error names an XS_ERROR reply may carry. */
export type XsdErrorName = (typeof XSD_ERRORS)[number]["errstring"];

/** struct xenstore_domain_interface: two 1 KiB byte rings, then the index and status words. */
export const XENSTORE_DOMAIN_INTERFACE = {
  ...XenstoreDomainInterface.offsets,
  size: XenstoreDomainInterface.size,
} as const;
