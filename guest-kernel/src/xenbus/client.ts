/**
 * The xenstore client: xs_wire requests over the xenstore ring page, matched to replies by req_id,
 * with watches (XS_WATCH_EVENT arrives on the same ring, unasked) and transactions that retry on
 * EAGAIN. The caller must route the store event channel to `poll()`; nothing else reads the ring.
 */
import { ByteRing } from "../kernel/bytering.ts";
import { XENSTORE_RING } from "../kernel/xen.ts";
import {
  XENSTORE_PAYLOAD_MAX,
  XS,
  XSD_SOCKMSG_SIZE,
  XsError,
  decodeHeader,
  encodeMessage,
  nulFields,
  pathAndValue,
  payloadText,
  splitFields,
  type XsMessage,
} from "./wire.ts";

/** Called for each XS_WATCH_EVENT: the path that changed and the token given to watch(). */
export type WatchCallback = (path: string, token: string) => void;

/** The operations that a transaction handle and the client share. */
export interface XsOps {
  read(path: string): Promise<string>;
  /** read() that gives `undefined` for ENOENT instead of throwing. */
  tryRead(path: string): Promise<string | undefined>;
  write(path: string, value: string | Uint8Array): Promise<void>;
  mkdir(path: string): Promise<void>;
  rm(path: string): Promise<void>;
  directory(path: string): Promise<string[]>;
  getPerms(path: string): Promise<string[]>;
  setPerms(path: string, perms: string[]): Promise<void>;
}

interface Pending {
  resolve(msg: XsMessage): void;
  reject(err: Error): void;
}

const enc = new TextEncoder();

/** How many times transaction() retries a commit that failed with EAGAIN before giving up. */
export const TRANSACTION_RETRIES = 16;

export class XenStoreClient implements XsOps {
  private readonly req: ByteRing;
  private readonly rsp: ByteRing;
  private readonly pending = new Map<number, Pending>();
  private readonly watches = new Map<string, { path: string; cb: WatchCallback }>();
  private outbox: Uint8Array[] = [];
  private inbuf = new Uint8Array(0);
  private nextReqId = 1;
  private nextToken = 1;
  private broken: Error | null = null;
  /** A flush is queued for the end of this turn (flushSoon). */
  private flushQueued = false;

  /**
   * @param page the xenstore_domain_interface page (start_info.store_mfn)
   * @param notify kicks the store event channel (EVTCHNOP_send)
   * @param onError told about a watch callback that threw
   */
  constructor(
    page: DataView,
    private readonly notify: () => void,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    const R = XENSTORE_RING;
    this.req = new ByteRing(page, { data: R.req, size: R.size, cons: R.reqCons, prod: R.reqProd });
    this.rsp = new ByteRing(page, { data: R.rsp, size: R.size, cons: R.rspCons, prod: R.rspProd });
  }

  /** Requests sent and not yet answered (for `ps`-style introspection and tests). */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * The event handler: push queued request bytes, then take every complete reply off the ring.
   * Safe to call spuriously (no work -> no effect).
   */
  poll(): void {
    this.flush();
    let full = false;
    for (;;) {
      if (this.rsp.corrupt()) return this.fail(new XsError("EIO", "response ring indices corrupt"));
      const from = this.rsp.consIndex();
      const chunk = this.rsp.read();
      if (chunk.length === 0) break;
      // The server stops writing replies when the ring is full and waits for an event: only a ring
      // it filled owes it one (an event for every read was a second trap for every request). It
      // writes while we read, from the `cons` it last saw, so look after ours is published, from
      // where this read began — as Linux's xb_read does.
      if (this.rsp.filledFrom(from)) full = true;
      const merged = new Uint8Array(this.inbuf.length + chunk.length);
      merged.set(this.inbuf);
      merged.set(chunk, this.inbuf.length);
      this.inbuf = merged;
    }
    // Tell the server we made room: it waits to write the rest of a big reply.
    if (full) this.notify();
    while (this.inbuf.length >= XSD_SOCKMSG_SIZE) {
      const h = decodeHeader(this.inbuf);
      if (h.len > XENSTORE_PAYLOAD_MAX) return this.fail(new XsError("EIO", `reply length ${h.len} too big`));
      if (this.inbuf.length < XSD_SOCKMSG_SIZE + h.len) break;
      const payload = this.inbuf.slice(XSD_SOCKMSG_SIZE, XSD_SOCKMSG_SIZE + h.len);
      this.inbuf = this.inbuf.slice(XSD_SOCKMSG_SIZE + h.len);
      this.deliver({ ...h, payload });
    }
  }

  private deliver(msg: XsMessage): void {
    if (msg.type === XS.WATCH_EVENT) {
      const [path, token] = splitFields(msg.payload);
      const w = token === undefined ? undefined : this.watches.get(token);
      // A callback that throws must not take the ring down with it: report it and carry on.
      if (w && path !== undefined) {
        queueMicrotask(() => {
          try {
            w.cb(path, token);
          } catch (e) {
            this.onError(e);
          }
        });
      }
      return;
    }
    const p = this.pending.get(msg.reqId);
    if (!p) return; // a reply to nothing we asked: ignore it, as xenbus drivers do
    this.pending.delete(msg.reqId);
    if (msg.type === XS.ERROR) p.reject(new XsError(payloadText(msg.payload) || "EIO"));
    else p.resolve(msg);
  }

  private fail(err: Error): void {
    this.broken = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private flush(): void {
    let wrote = false;
    while (this.outbox.length > 0) {
      const head = this.outbox[0];
      const n = this.req.write(head);
      if (n > 0) wrote = true;
      if (n < head.length) {
        this.outbox[0] = head.subarray(n);
        break;
      }
      this.outbox.shift();
    }
    if (wrote) this.notify();
  }

  /**
   * Flushes once the code that queued a request is done: requests made together (a boot's watches
   * and writes, a device's keys) reach the ring together behind one event, and the server finds
   * them all at once instead of waking for each while the guest traps to send the next.
   */
  private flushSoon(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /** Sends one request and waits for its reply. Rejects with XsError on XS_ERROR. */
  request(type: number, payload: Uint8Array, txId = 0): Promise<XsMessage> {
    if (this.broken) return Promise.reject(this.broken);
    let bytes: Uint8Array;
    try {
      bytes = encodeMessage(type, this.nextReqId, txId, payload);
    } catch (e) {
      return Promise.reject(e);
    }
    const reqId = this.nextReqId;
    this.nextReqId = (this.nextReqId + 1) >>> 0 || 1;
    return new Promise<XsMessage>((resolve, reject) => {
      this.pending.set(reqId, { resolve, reject });
      this.outbox.push(bytes);
      this.flushSoon();
    });
  }

  /** Rejects everything in flight (domain shutdown, suspend). */
  close(reason = "xenstore connection closed"): void {
    this.fail(new XsError("EIO", reason));
  }

  // ---- the operations, outside any transaction ------------------------------------------------

  read(path: string, txId = 0): Promise<string> {
    return this.request(XS.READ, nulFields(path), txId).then((m) => payloadText(m.payload));
  }

  async tryRead(path: string, txId = 0): Promise<string | undefined> {
    try {
      return await this.read(path, txId);
    } catch (e) {
      if (e instanceof XsError && e.code === "ENOENT") return undefined;
      throw e;
    }
  }

  async write(path: string, value: string | Uint8Array, txId = 0): Promise<void> {
    const bytes = typeof value === "string" ? enc.encode(value) : value;
    await this.request(XS.WRITE, pathAndValue(path, bytes), txId);
  }

  async mkdir(path: string, txId = 0): Promise<void> {
    await this.request(XS.MKDIR, nulFields(path), txId);
  }

  async rm(path: string, txId = 0): Promise<void> {
    await this.request(XS.RM, nulFields(path), txId);
  }

  async directory(path: string, txId = 0): Promise<string[]> {
    return splitFields((await this.request(XS.DIRECTORY, nulFields(path), txId)).payload);
  }

  /**
   * A node's permissions in xenstore's own notation, as `xenstore-ls -p` prints them: the first entry
   * is the owner and what everyone else may do ("n5": owned by domain 5, others none), each further
   * one a domain's own right ("r7": domain 7 may read). Letters: n none, r read, w write, b both.
   */
  async getPerms(path: string, txId = 0): Promise<string[]> {
    return splitFields((await this.request(XS.GET_PERMS, nulFields(path), txId)).payload);
  }

  /** Replaces a node's permissions (only its owner or dom0 may); same notation as getPerms(). */
  async setPerms(path: string, perms: string[], txId = 0): Promise<void> {
    const bad = perms.find((p) => !/^[nrwb]\d+$/.test(p));
    if (perms.length === 0 || bad !== undefined) {
      throw new XsError("EINVAL", `setPerms ${path}: "${bad ?? ""}" is not a permission like n5 or r7`);
    }
    await this.request(XS.SET_PERMS, nulFields(path, ...perms), txId);
  }

  /** The home of a domain's keys, e.g. "/local/domain/3". */
  async getDomainPath(domid: number): Promise<string> {
    return payloadText((await this.request(XS.GET_DOMAIN_PATH, nulFields(String(domid)))).payload);
  }

  /**
   * Watches `path` (and everything below it). xenstored fires the callback once right away, then
   * on every change. Returns the token; pass it to unwatch().
   */
  async watch(path: string, cb: WatchCallback, token = `pvkit-w${this.nextToken++}`): Promise<string> {
    // Register before asking: the first event can arrive in the same poll() as the ack.
    this.watches.set(token, { path, cb });
    try {
      await this.request(XS.WATCH, nulFields(path, token));
    } catch (e) {
      this.watches.delete(token);
      throw e;
    }
    return token;
  }

  async unwatch(token: string): Promise<void> {
    const w = this.watches.get(token);
    if (!w) return;
    this.watches.delete(token);
    await this.request(XS.UNWATCH, nulFields(w.path, token));
  }

  /**
   * Runs `body` in a transaction and commits it. A commit that fails with EAGAIN (someone else
   * changed what we read) runs `body` again from the start, up to TRANSACTION_RETRIES times; so
   * `body` must have no side effects outside xenstore. If `body` throws, the transaction is aborted.
   */
  async transaction<T>(body: (tx: XsOps) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const id = Number(payloadText((await this.request(XS.TRANSACTION_START, nulFields(""))).payload));
      if (!Number.isInteger(id) || id <= 0) throw new XsError("EIO", "bad transaction id");
      let result: T;
      try {
        result = await body(this.bind(id));
      } catch (e) {
        await this.request(XS.TRANSACTION_END, nulFields("F"), id).catch(() => undefined);
        throw e;
      }
      try {
        await this.request(XS.TRANSACTION_END, nulFields("T"), id);
        return result;
      } catch (e) {
        if (!(e instanceof XsError && e.code === "EAGAIN") || attempt + 1 >= TRANSACTION_RETRIES) throw e;
      }
    }
  }

  private bind(txId: number): XsOps {
    return {
      read: (p) => this.read(p, txId),
      tryRead: (p) => this.tryRead(p, txId),
      write: (p, v) => this.write(p, v, txId),
      mkdir: (p) => this.mkdir(p, txId),
      rm: (p) => this.rm(p, txId),
      directory: (p) => this.directory(p, txId),
      getPerms: (p) => this.getPerms(p, txId),
      setPerms: (p, perms) => this.setPerms(p, perms, txId),
    };
  }
}
