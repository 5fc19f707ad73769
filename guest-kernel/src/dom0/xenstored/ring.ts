/**
 * The ring transport: xenstored's side of a domain's xenstore_domain_interface page. We consume the
 * req ring (the guest produces) and produce the rsp ring. The page is shared with a guest that may be
 * hostile: bytes are copied off the ring before parsing, indices are sanity-checked, and we read only
 * as many request bytes as the next message needs, so a lagging guest is throttled in its own ring.
 * The dom0 kernel must call onEvent() whenever the domain kicks the xenstore event channel.
 */
import * as X from "./abi.ts";
import { ByteRing } from "../../kernel/bytering.ts";
import { Connection } from "./connection.ts";
import { endAll } from "./transaction.ts";
import type { QuotaLimits } from "./quota.ts";
import { Framer, type XsMsg } from "./wire.ts";

const L = X.XENSTORE_DOMAIN_INTERFACE;

/** The server's half of one domain's xenstore ring. */
export class RingConnection extends Connection {
  private readonly req: ByteRing;
  private readonly rsp: ByteRing;
  private readonly view: DataView;
  private framer = new Framer();
  /** Bytes of the outbox head already written to the rsp ring. */
  private headDone = 0;
  private inBatch = false;
  private kick = false;
  private retry?: ReturnType<typeof setTimeout>;
  /**
   * Set by the server: 0 when the guest may be read from, else how many ms to wait (its memory
   * quota or write rate limit). Its requests wait in its own ring meanwhile.
   */
  stalledFor?: () => number;

  /**
   * @param domid the domain on the other end (unprivileged unless 0)
   * @param page the xenstore_domain_interface page (at least 2076 bytes)
   * @param notify sends an event to the domain on the xenstore port
   * @param deliver hands a complete request to the server
   */
  constructor(
    readonly domid: number,
    page: DataView | Uint8Array,
    private readonly notify: () => void,
    private readonly deliver: (conn: RingConnection, msg: XsMsg) => void,
    quota: Readonly<QuotaLimits>,
    private readonly log: (line: string) => void,
  ) {
    super({ domid, privileged: domid === 0 }, quota, `domain ${domid}`);
    this.view = page instanceof DataView ? page : new DataView(page.buffer, page.byteOffset, page.byteLength);
    if (this.view.byteLength < L.size) throw new RangeError(`xenstore page of ${this.view.byteLength} bytes`);
    const size = X.XENSTORE_RING_SIZE;
    this.req = new ByteRing(this.view, { data: L.req, size, cons: L.req_cons, prod: L.req_prod });
    this.rsp = new ByteRing(this.view, { data: L.rsp, size, cons: L.rsp_cons, prod: L.rsp_prod });
    this.announce();
  }

  /**
   * The domain kicked its port: send what waits in the outbox, then read and handle requests while
   * the client keeps up with its replies. Safe to call spuriously; one notify at the end at most.
   */
  onEvent(): void {
    if (this.closed) return;
    this.inBatch = true;
    try {
      this.pump();
      this.readRequests();
    } finally {
      this.inBatch = false;
    }
    this.flushKick();
  }

  private readRequests(): void {
    while (!this.closed && this.wantsRequests()) {
      const wait = this.who.privileged ? 0 : (this.stalledFor?.() ?? 0);
      if (wait > 0) return this.retryIn(wait);
      if (this.req.corrupt() || this.rsp.corrupt())
        return this.fail(X.XENSTORE_ERROR_RINGIDX, "bad ring index");
      const frame = this.framer.next();
      if (frame?.kind === "oversize")
        return this.fail(X.XENSTORE_ERROR_PROTO, `message of ${frame.len} bytes`);
      if (frame) {
        this.deliver(this, frame.msg);
        continue;
      }
      const want = Math.min(this.framer.wanted(), this.req.available());
      if (want === 0) return;
      this.framer.push(this.req.read(want));
      this.kick = true; // the guest may be waiting for room in its req ring
    }
  }

  protected pump(): void {
    this.dropExpired(this.headDone > 0 ? 1 : 0);
    while (!this.closed && this.outbox.length > 0) {
      const head = this.outbox[0].bytes;
      const n = this.rsp.write(head.subarray(this.headDone));
      if (n > 0) this.kick = true;
      this.headDone += n;
      if (this.headDone < head.length) break; // rsp ring full: resume on the next event
      this.headDone = 0;
      this.shiftOutbox();
    }
    if (!this.inBatch) this.flushKick();
  }

  private flushKick(): void {
    if (!this.kick || this.closed) return;
    this.kick = false;
    this.notify();
  }

  /** Tells the guest, in its page, that the store is connected, error-free and reports errors. */
  private announce(): void {
    this.view.setUint32(L.server_features, X.XENSTORE_SERVER_FEATURE_ERROR, true);
    this.view.setUint32(L.connection, X.XENSTORE_CONNECTED, true);
    this.view.setUint32(L.error, X.XENSTORE_ERROR_NONE, true);
  }

  /** Reads again in `ms` (once: a pending retry stands). */
  private retryIn(ms: number): void {
    if (this.retry) return;
    this.stats.stalls++;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.onEvent();
    }, ms);
    this.retry.unref?.();
  }

  /**
   * The domain was introduced again (it reconnects): drop what the old connection held — its
   * transactions, queued replies and events, a half-read request — and start both rings afresh,
   * then tell the guest the store is connected.
   */
  reset(): void {
    if (this.closed) return;
    endAll(this.transactions);
    this.dropOutbox();
    this.framer = new Framer();
    this.headDone = 0;
    for (const at of [L.req_cons, L.req_prod, L.rsp_cons, L.rsp_prod]) this.view.setUint32(at, 0, true);
    this.announce();
    this.notify();
  }

  /** A protocol violation: report it in the page's error field and stop serving the ring. */
  private fail(code: number, why: string): void {
    this.view.setUint32(L.error, code, true);
    this.log(`xenstored: domain ${this.domid}: ${why}; ring disabled`);
    this.close(why);
    this.notify();
  }

  protected onClose(): void {
    this.kick = false;
    clearTimeout(this.retry);
  }
}
