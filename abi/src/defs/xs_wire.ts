/**
 * The xenstore wire protocol (xen/io/xs_wire.h): message header and types, spoken over a domain's
 * xenstore ring page and over xenstored's unix socket (what libxenstore and xenstore-* tools use).
 */
import { constants, struct } from "../schema.ts";

const header = "xen/io/xs_wire.h";

export const xsdSockmsgType = constants({
  name: "XS_MSG",
  origin: "xen",
  header,
  doc: "xsd_sockmsg.type (enum xsd_sockmsg_type). A reply carries the request's type, or XS_ERROR.",
  values: [
    { name: "XS_CONTROL", value: 0, doc: "Daemon control commands (was XS_DEBUG)." },
    { name: "XS_DEBUG", value: 0, doc: "Old name of XS_CONTROL." },
    { name: "XS_DIRECTORY", value: 1, doc: "List a node's children." },
    { name: "XS_READ", value: 2, doc: "Read a node's value." },
    { name: "XS_GET_PERMS", value: 3, doc: "Read a node's permissions." },
    { name: "XS_WATCH", value: 4, doc: "Watch a path with a token." },
    { name: "XS_UNWATCH", value: 5, doc: "Remove a watch." },
    { name: "XS_TRANSACTION_START", value: 6, doc: "Start a transaction; replies with its id." },
    { name: "XS_TRANSACTION_END", value: 7, doc: 'End a transaction: "T" commits, "F" aborts.' },
    { name: "XS_INTRODUCE", value: 8, doc: "Tell xenstored about a new domain's ring (dom0 only)." },
    { name: "XS_RELEASE", value: 9, doc: "Forget a domain (dom0 only)." },
    { name: "XS_GET_DOMAIN_PATH", value: 10, doc: "Home path of a domain (/local/domain/<id>)." },
    { name: "XS_WRITE", value: 11, doc: "Write a node's value." },
    { name: "XS_MKDIR", value: 12, doc: "Create a node." },
    { name: "XS_RM", value: 13, doc: "Remove a node and its children." },
    { name: "XS_SET_PERMS", value: 14, doc: "Set a node's permissions." },
    { name: "XS_WATCH_EVENT", value: 15, doc: "Asynchronous watch firing: path and token." },
    { name: "XS_ERROR", value: 16, doc: "Error reply: payload is an errno name such as ENOENT." },
    { name: "XS_IS_DOMAIN_INTRODUCED", value: 17, doc: "Whether a domain is introduced." },
    { name: "XS_RESUME", value: 18, doc: "Resume a domain's connection." },
    { name: "XS_SET_TARGET", value: 19, doc: "Make a domain a device model's target." },
    { name: "XS_RESET_WATCHES", value: 21, doc: "Drop all of the connection's watches." },
    { name: "XS_DIRECTORY_PART", value: 22, doc: "List children in parts (large directories)." },
    { name: "XS_TYPE_COUNT", value: 23, doc: "Number of valid types." },
    { name: "XS_INVALID", value: 0xffff, doc: "Guaranteed never to be a valid type." },
  ],
});

export const xsWatchType = constants({
  name: "XS_WATCH_FIELD",
  origin: "xen",
  header,
  doc: "Indices of the NUL-separated strings in an XS_WATCH_EVENT payload (enum xs_watch_type).",
  values: [
    { name: "XS_WATCH_PATH", value: 0, doc: "The path that changed." },
    { name: "XS_WATCH_TOKEN", value: 1, doc: "The watch's token." },
  ],
});

export const xsdSockmsg = struct({
  name: "xsd_sockmsg",
  origin: "xen",
  header,
  doc: "Header of every xenstore message; `len` bytes of payload follow.",
  size: 16,
  fields: [
    { name: "type", type: "u32", doc: "XS_* message type." },
    { name: "req_id", type: "u32", doc: "Request id, echoed in the reply." },
    { name: "tx_id", type: "u32", doc: "Transaction id, 0 outside a transaction." },
    { name: "len", type: "u32", doc: "Payload bytes (at most XENSTORE_PAYLOAD_MAX)." },
  ],
});

export const xenstoreDomainInterface = struct({
  name: "xenstore_domain_interface",
  origin: "xen",
  header,
  doc:
    "The xenstore ring page shared by a domain and xenstored: a request and a response byte ring " +
    "with free-running indices masked by XENSTORE_RING_SIZE, plus reconnection state.",
  size: 2076,
  fields: [
    { name: "req", type: { array: "u8", length: 1024 }, doc: "Requests to xenstored." },
    { name: "rsp", type: { array: "u8", length: 1024 }, doc: "Replies and watch events." },
    { name: "req_cons", type: "u32", doc: "Request consumer index (xenstored)." },
    { name: "req_prod", type: "u32", doc: "Request producer index (guest)." },
    { name: "rsp_cons", type: "u32", doc: "Response consumer index (guest)." },
    { name: "rsp_prod", type: "u32", doc: "Response producer index (xenstored)." },
    { name: "server_features", type: "u32", doc: "XENSTORE_SERVER_FEATURE_* bits." },
    { name: "connection", type: "u32", doc: "XENSTORE_CONNECTED or XENSTORE_RECONNECT." },
    { name: "error", type: "u32", doc: "XENSTORE_ERROR_*." },
  ],
});

export const xenstoreLimits = constants({
  name: "XENSTORE",
  origin: "xen",
  header,
  doc: "xenstore ring and protocol limits, features, connection states and ring errors.",
  values: [
    { name: "XENSTORE_RING_SIZE", value: 1024, doc: "Bytes of each ring." },
    { name: "XENSTORE_PAYLOAD_MAX", value: 4096, doc: "Largest message payload." },
    { name: "XENSTORE_ABS_PATH_MAX", value: 3072, doc: "Longest absolute path." },
    { name: "XENSTORE_REL_PATH_MAX", value: 2048, doc: "Longest relative path." },
    { name: "XENSTORE_SERVER_FEATURE_RECONNECTION", value: 1, doc: "The server supports reconnection." },
    { name: "XENSTORE_SERVER_FEATURE_ERROR", value: 2, doc: "The server reports ring errors." },
    { name: "XENSTORE_CONNECTED", value: 0, doc: "Steady state." },
    { name: "XENSTORE_RECONNECT", value: 1, doc: "Reconnection in progress." },
    { name: "XENSTORE_ERROR_NONE", value: 0, doc: "No error." },
    { name: "XENSTORE_ERROR_COMM", value: 1, doc: "Communication problem." },
    { name: "XENSTORE_ERROR_RINGIDX", value: 2, doc: "Invalid ring index." },
    { name: "XENSTORE_ERROR_PROTO", value: 3, doc: "Protocol violation (payload too long)." },
  ],
});
