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
};

/** The size a node is charged for: its value plus its child list as the wire would carry it. */
export function nodeSize(value: Uint8Array, children: readonly string[]): number {
  let n = value.length;
  for (const c of children) n += c.length + 1;
  return n;
}
