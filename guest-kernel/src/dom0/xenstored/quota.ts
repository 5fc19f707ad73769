/**
 * Per-domain limits that keep one guest from exhausting xenstored (the XSA-326 family). Privileged
 * callers (dom0) are exempt, as in Xen. Each limit names the error a request that hits it gets:
 * Xen's choices, so existing clients react as they do against C xenstored.
 */

/** Limits, all per domain unless noted. Defaults follow C xenstored's. */
export interface QuotaLimits {
  /** Nodes a domain may own (ENOSPC beyond). */
  entriesPerDomain: number;
  /** Bytes of value plus child names in one node (ENOSPC beyond). */
  nodeSize: number;
  /** Entries in one node's permission list (ENOSPC beyond). */
  permsPerNode: number;
  /** Registered watches per connection (E2BIG beyond). */
  watchesPerDomain: number;
  /** Open transactions per connection (ENOSPC beyond). */
  transactionsPerConnection: number;
  /** Nodes one transaction may hold privately (ENOSPC beyond). */
  transactionNodes: number;
  /**
   * Replies waiting for the client to take them. At this many we stop reading its requests until it
   * catches up: a client that never reads its replies stalls only itself.
   */
  outstandingReplies: number;
  /** Watch events waiting for the client; further events for it are dropped (and counted). */
  outstandingEvents: number;
  /**
   * Bytes queued towards one socket client (replies + events) beyond which the connection is closed:
   * the last resort that keeps memory bounded whatever the client does.
   */
  socketBacklogBytes: number;
  /** Bytes of store a domain may own (its nodes' records, as C xenstored counts them): ENOMEM beyond. */
  memoryPerDomain: number;
  /** Bytes of store past which a domain's use is logged (a warning, no error). */
  memoryPerDomainSoft: number;
  /** Characters a path may have beyond a /local/domain/<id>/ prefix (EINVAL beyond). */
  pathMax: number;
  /** How long a watch event may wait for an unprivileged client before it is dropped (ms). */
  watchEventTimeoutMs: number;
}

/** C xenstored's defaults (quota_nb_entry_per_domain = 1000, quota_max_entry_size = 2048, ...). */
export const DEFAULT_QUOTA: Readonly<QuotaLimits> = {
  entriesPerDomain: 1000,
  nodeSize: 2048,
  permsPerNode: 5,
  watchesPerDomain: 128,
  transactionsPerConnection: 10,
  transactionNodes: 1024,
  outstandingReplies: 20,
  outstandingEvents: 256,
  socketBacklogBytes: 1 << 20,
  memoryPerDomain: 2 * 1024 * 1024 + 512 * 1024,
  memoryPerDomainSoft: 2 * 1024 * 1024,
  pathMax: 2048,
  watchEventTimeoutMs: 20_000,
};

/**
 * The quotas `xenstore-control quota` names, in C xenstored's order and words, with the field each
 * sets. Setting one takes effect for the next request.
 */
export const HARD_QUOTAS: readonly { name: string; field: keyof QuotaLimits; descr: string }[] = [
  { name: "nodes", field: "entriesPerDomain", descr: "Nodes per domain" },
  { name: "watches", field: "watchesPerDomain", descr: "Watches per domain" },
  { name: "transactions", field: "transactionsPerConnection", descr: "Transactions per domain" },
  { name: "outstanding", field: "outstandingReplies", descr: "Outstanding requests per domain" },
  {
    name: "transaction-nodes",
    field: "transactionNodes",
    descr: "Max. number of accessed nodes per transaction",
  },
  { name: "memory", field: "memoryPerDomain", descr: "Total Xenstore memory per domain (error level)" },
  { name: "node-size", field: "nodeSize", descr: "Max. size of a node" },
  { name: "path-max", field: "pathMax", descr: "Max. length of a node path" },
  { name: "permissions", field: "permsPerNode", descr: "Max. number of permissions per node" },
];

/** `xenstore-control quota-soft`'s one entry. */
export const SOFT_QUOTAS: readonly { name: string; field: keyof QuotaLimits; descr: string }[] = [
  { name: "memory", field: "memoryPerDomainSoft", descr: "Total Xenstore memory per domain (warning level)" },
];

/**
 * The bytes a node's record takes, as C xenstored charges its owner: the path (the record's key), a
 * 24-byte header, 8 bytes per permission entry, the value and the NUL-terminated child names.
 */
export function nodeMemory(path: string, value: Uint8Array, perms: number, children: readonly string[]) {
  return path.length + 24 + 8 * perms + nodeSize(value, children);
}

/** The size a node is charged for: its value plus its child list as the wire would carry it. */
export function nodeSize(value: Uint8Array, children: readonly string[]): number {
  let n = value.length;
  for (const c of children) n += c.length + 1;
  return n;
}
