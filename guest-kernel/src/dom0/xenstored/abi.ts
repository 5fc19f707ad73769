/**
 * xs_wire.h facts that xenstored needs: message types, error names, size limits and the
 * xenstore_domain_interface page layout. TO BE REPLACED by "@pvkit/abi/layout" once the ABI defines
 * xs_wire: every name here is the C name, so the swap is an import change in this one file.
 */

/** enum xsd_sockmsg_type. XS_RESTRICT (20) was removed from Xen, hence the gap before RESET_WATCHES. */
export const XS_CONTROL = 0;
export const XS_DEBUG = XS_CONTROL;
export const XS_DIRECTORY = 1;
export const XS_READ = 2;
export const XS_GET_PERMS = 3;
export const XS_WATCH = 4;
export const XS_UNWATCH = 5;
export const XS_TRANSACTION_START = 6;
export const XS_TRANSACTION_END = 7;
export const XS_INTRODUCE = 8;
export const XS_RELEASE = 9;
export const XS_GET_DOMAIN_PATH = 10;
export const XS_WRITE = 11;
export const XS_MKDIR = 12;
export const XS_RM = 13;
export const XS_SET_PERMS = 14;
export const XS_WATCH_EVENT = 15;
export const XS_ERROR = 16;
export const XS_IS_DOMAIN_INTRODUCED = 17;
export const XS_RESUME = 18;
export const XS_SET_TARGET = 19;
export const XS_RESET_WATCHES = XS_SET_TARGET + 2;
export const XS_DIRECTORY_PART = 22;
export const XS_TYPE_COUNT = 23;
export const XS_INVALID = 0xffff;

/** enum xs_watch_type: field indices inside an XS_WATCH_EVENT payload. */
export const XS_WATCH_PATH = 0;
export const XS_WATCH_TOKEN = 1;

/** sizeof(struct xsd_sockmsg): type, req_id, tx_id, len, all u32 little-endian. */
export const XSD_SOCKMSG_SIZE = 16;
export const XENSTORE_PAYLOAD_MAX = 4096;
export const XENSTORE_ABS_PATH_MAX = 3072;
export const XENSTORE_REL_PATH_MAX = 2048;

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
export const XENSTORE_RING_SIZE = 1024;
export const XENSTORE_DOMAIN_INTERFACE = {
  req: 0,
  rsp: 1024,
  req_cons: 2048,
  req_prod: 2052,
  rsp_cons: 2056,
  rsp_prod: 2060,
  server_features: 2064,
  connection: 2068,
  error: 2072,
  size: 2076,
} as const;

export const XENSTORE_SERVER_FEATURE_RECONNECTION = 1;
export const XENSTORE_SERVER_FEATURE_ERROR = 2;
export const XENSTORE_CONNECTED = 0;
export const XENSTORE_RECONNECT = 1;
export const XENSTORE_ERROR_NONE = 0;
export const XENSTORE_ERROR_COMM = 1;
export const XENSTORE_ERROR_RINGIDX = 2;
export const XENSTORE_ERROR_PROTO = 3;
