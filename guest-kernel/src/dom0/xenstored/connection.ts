/**
 * One client of xenstored (a domain's ring, a local socket, or dom0's in-process API): who it is, its
 * open transactions, and the queue of replies and watch events on their way to it. The queue is
 * bounded: replies by refusing to read further requests (back-pressure), watch events by dropping
 * them once `outstandingEvents` wait. Transports implement pump() and must call requestsReady().
 */
import { XS_ERROR, XS_WATCH_EVENT } from "./abi.ts";
import type { MemoryAccount } from "./memory.ts";
import type { Caller } from "./perms.ts";
import type { QuotaLimits } from "./quota.ts";
import { endAll, type Transaction } from "./transaction.ts";
import type { WatchSink } from "./watches.ts";
import { bytesOf, encodeMsg } from "./wire.ts";

/** Counters for `xenstore-control`-style introspection and tests. */
export interface ConnectionStats {
  requests: number;
  errors: number;
  eventsSent: number;
  eventsDropped: number;
  /** Times the server stopped reading the client (memory quota, write rate limit). */
  stalls: number;
}

interface Queued {
  readonly bytes: Uint8Array;
  readonly event: boolean;
  /** For an unprivileged client's watch event: when it is dropped if still unsent (ms, Date.now). */
  readonly expires?: number;
  /** For a watch event on a node: "path\0token", while it waits (see waitingEvents). */
  readonly key?: string;
}

/** Xen's DEFAULT_BUFFER_SIZE: a reply no longer than this (an error string) is never refused. */
const SMALL_REPLY = 16;

export abstract class Connection implements WatchSink {
  /** Open transactions by id. */
  readonly transactions = new Map<number, Transaction>();
  readonly stats: ConnectionStats = { requests: 0, errors: 0, eventsSent: 0, eventsDropped: 0, stalls: 0 };
  protected readonly outbox: Queued[] = [];
  private queuedReplies = 0;
  private queuedEvents = 0;
  /** Keys of the node watch events queued, so that an identical one is not queued twice. */
  private readonly waitingEvents = new Set<string>();
  private nextTxId = 1;
  private closedFlag = false;
  /** Set by the server: told once when the connection dies, to drop its watches. */
  onClosed?: (conn: Connection) => void;
  /** Set by the server: charges queued messages to the client's domain (memory.ts). */
  account?: MemoryAccount;

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

  /**
   * Queues a complete reply message and tries to send it. A reply longer than an error string that
   * would take an unprivileged domain to its memory quota becomes ENOMEM, as in Xen.
   */
  sendReply(type: number, reqId: number, txId: number, payload: Uint8Array): void {
    if (this.closedFlag) return;
    let bytes = encodeMsg(type, reqId, txId, payload);
    if (!this.charge(bytes.length, payload.length > SMALL_REPLY)) {
      bytes = encodeMsg(XS_ERROR, reqId, txId, bytesOf("ENOMEM\0"));
      this.charge(bytes.length, false);
    }
    this.outbox.push({ bytes, event: false });
    this.queuedReplies++;
    this.pump();
  }

  /**
   * WatchSink: queues "path\0token\0". Dropped (and counted) when the client already has too many
   * waiting or its domain is at its memory quota; not queued twice while an identical one waits
   * (special names excepted), as in Xen. An unprivileged client's event expires unsent after
   * quota.watchEventTimeoutMs.
   */
  watchEvent(path: string, token: string): void {
    if (this.closedFlag) return;
    const payload = `${path}\0${token}\0`;
    const key = path.startsWith("@") ? undefined : payload;
    if (key !== undefined && this.waitingEvents.has(key)) return;
    const bytes = encodeMsg(XS_WATCH_EVENT, 0, 0, bytesOf(payload));
    if (this.queuedEvents >= this.quota.outstandingEvents || !this.charge(bytes.length, true)) {
      this.stats.eventsDropped++;
      return;
    }
    const expires = this.who.privileged ? undefined : Date.now() + this.quota.watchEventTimeoutMs;
    this.outbox.push({ bytes, event: true, expires, key });
    if (key !== undefined) this.waitingEvents.add(key);
    this.queuedEvents++;
    this.pump();
  }

  /**
   * Drops watch events that waited past their time and were not started (`from`: the first outbox
   * index the transport has not begun writing). Transports call it before writing.
   */
  protected dropExpired(from: number): void {
    const now = Date.now();
    for (let i = this.outbox.length - 1; i >= from; i--) {
      const q = this.outbox[i];
      if (q.expires === undefined || q.expires > now) continue;
      this.outbox.splice(i, 1);
      this.forget(q);
      this.stats.eventsDropped++;
      this.account?.release(this.who.domid, q.bytes.length);
    }
  }

  /** Transports call this when the head of the outbox has been handed over completely. */
  protected shiftOutbox(): Queued | undefined {
    const q = this.outbox.shift();
    if (q?.event) {
      this.forget(q);
      this.stats.eventsSent++;
    } else if (q) {
      this.queuedReplies--;
    }
    if (q) this.account?.release(this.who.domid, q.bytes.length);
    return q;
  }

  /** Forgets every queued reply and event (a connection that starts afresh). */
  protected dropOutbox(): void {
    for (const q of this.outbox) this.account?.release(this.who.domid, q.bytes.length);
    this.outbox.length = 0;
    this.queuedReplies = 0;
    this.queuedEvents = 0;
    this.waitingEvents.clear();
  }

  /** An event leaves the queue (sent or dropped). */
  private forget(q: Queued): void {
    this.queuedEvents--;
    if (q.key !== undefined) this.waitingEvents.delete(q.key);
  }

  /** Charges `bytes` of queued output to the client's domain; false if refused. */
  private charge(bytes: number, check: boolean): boolean {
    return this.account?.charge(this.who.domid, bytes, check && !this.who.privileged) ?? true;
  }

  /** Marks the connection dead; the transport releases its resources in onClose(). */
  close(reason?: string): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.dropOutbox();
    endAll(this.transactions);
    this.onClose(reason);
    this.onClosed?.(this);
  }

  /** Move what the transport can take from the outbox to it. */
  protected abstract pump(): void;
  protected abstract onClose(reason?: string): void;
}
