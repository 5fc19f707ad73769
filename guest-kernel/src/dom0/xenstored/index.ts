/**
 * dom0's xenstored: the store served to domains over their xenstore rings and to host tools over a
 * unix socket (libxenstore's XENSTORED_PATH), with a direct API for the in-process toolstack.
 */
export { Xenstored, type XenstoredOptions, type DomainRing } from "./server.ts";
export { RingConnection } from "./ring.ts";
export { SocketConnection, SOCKET_PAUSE_BYTES } from "./socket.ts";
export { Connection, type ConnectionStats } from "./connection.ts";
export { XsdError } from "./errors.ts";
export { DEFAULT_QUOTA, type QuotaLimits } from "./quota.ts";
export { PERM_NONE, PERM_READ, PERM_WRITE, PERM_BOTH, type Perm, type Perms } from "./perms.ts";
export type { LocalWatchCallback } from "./local.ts";
