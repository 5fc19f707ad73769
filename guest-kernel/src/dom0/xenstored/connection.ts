/**
 * One client of xenstored (a domain's ring, a local socket, or dom0's in-process API): who it is, its
 * open transactions, and the queue of replies and watch events on their way to it. The queue is
 * bounded: replies by refusing to read further requests (back-pressure), watch events by dropping
 * them once `outstandingEvents` wait. Transports implement pump() and must call requestsReady().
 */
import { XS_WATCH_EVENT } from "./abi.ts";
import type { Caller } from "./perms.ts";
import type { QuotaLimits } from "./quota.ts";
import type { Transaction } from "./transaction.ts";
import type { WatchSink } from "./watches.ts";
import { bytesOf, encodeMsg } from "./wire.ts";

/** Counters for `xenstore-control`-style introspection and tests. */
export interface ConnectionStats {
  requests: number;
  errors: number;
  eventsSent: number;
  eventsDropped: number;
}

interface Queued {
  readonly bytes: Uint8Array;
  readonly event: boolean;
}

export abstract class Connection implements WatchSink {
  /** Open transactions by id. */
  readonly transactions = new Map<number, Transaction>();
  readonly stats: ConnectionStats = { requests: 0, errors: 0, eventsSent: 0, eventsDropped: 0 };
  protected readonly outbox: Queued[] = [];
  private queuedReplies = 0;
  private queuedEvents = 0;
  private nextTxId = 1;
  private closedFlag = false;
  /** Set by the server: told once when the connection dies, to drop its watches. */
  onClosed?: (conn: Connection) => void;

  constructor(
    /** Replaced (not mutated) by the server for XS_SET_TARGET. */
    public who: Caller,
    protected readonly quota: Readonly<QuotaLimits>,
    /** A human-readable name for logs: "socket#3", "domain 5". */
    readonly label: string,
  ) {}

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Replies queued but not yet taken by the transport. */
  get backlogReplies(): number {
    return this.queuedReplies;
  }

  /** Watch events queued but not yet taken by the transport. */
  get backlogEvents(): number {
    return this.queuedEvents;
  }

  /** Whether the server should read another request now (false while the client lags behind). */
  wantsRequests(): boolean {
    return !this.closedFlag && this.queuedReplies < this.quota.outstandingReplies;
  }

  /** A fresh transaction id: non-zero, unique among this connection's open transactions. */
  allocTxId(): number {
    do this.nextTxId = (this.nextTxId + 1) >>> 0 || 1;
    while (this.transactions.has(this.nextTxId));
    return this.nextTxId;
  }

  /** Queues a complete reply message and tries to send it. */
  sendReply(type: number, reqId: number, txId: number, payload: Uint8Array): void {
    if (this.closedFlag) return;
    this.outbox.push({ bytes: encodeMsg(type, reqId, txId, payload), event: false });
    this.queuedReplies++;
    this.pump();
  }

  /** WatchSink: queues "path\0token\0", or drops it when the client already has too many waiting. */
  watchEvent(path: string, token: string): void {
    if (this.closedFlag) return;
    if (this.queuedEvents >= this.quota.outstandingEvents) {
      this.stats.eventsDropped++;
      return;
    }
    const payload = bytesOf(`${path}\0${token}\0`);
    const bytes = encodeMsg(XS_WATCH_EVENT, 0, 0, payload);
    // As C xenstored: an event identical to one still waiting is not queued twice (special names
    // excepted). Only events past the transport's head are candidates.
    if (!path.startsWith("@") && this.outbox.some((q, i) => i > 0 && q.event && sameBytes(q.bytes, bytes)))
      return;
    this.outbox.push({ bytes, event: true });
    this.queuedEvents++;
    this.pump();
  }

  /** Transports call this when the head of the outbox has been handed over completely. */
  protected shiftOutbox(): Queued | undefined {
    const q = this.outbox.shift();
    if (q?.event) {
      this.queuedEvents--;
      this.stats.eventsSent++;
    } else if (q) {
      this.queuedReplies--;
    }
    return q;
  }

  /** Forgets every queued reply and event (a connection that starts afresh). */
  protected dropOutbox(): void {
    this.outbox.length = 0;
    this.queuedReplies = 0;
    this.queuedEvents = 0;
  }

  /** Marks the connection dead; the transport releases its resources in onClose(). */
  close(reason?: string): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.outbox.length = 0;
    this.queuedReplies = 0;
    this.queuedEvents = 0;
    this.transactions.clear();
    this.onClose(reason);
    this.onClosed?.(this);
  }

  /** Move what the transport can take from the outbox to it. */
  protected abstract pump(): void;
  protected abstract onClose(reason?: string): void;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
