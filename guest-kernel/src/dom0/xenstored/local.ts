/**
 * The direct API: dom0's toolstack, in the same process as xenstored, reads and writes the store
 * without a socket. It is a privileged requester (dom0) whose requests run through the very same
 * handlers as wire requests, so permissions, watches and transactions behave identically. Errors are
 * thrown as XsdError; watch callbacks run later (setImmediate), never inside the change that fired.
 */
import * as X from "./abi.ts";
import { XsdError } from "./errors.ts";
import { handleRequest, type Requester, type ServerCore } from "./handlers.ts";
import { formatPerm, type Perm } from "./perms.ts";
import type { Transaction } from "./transaction.ts";
import { bytesOf, stringArgs, textOf, type XsMsg } from "./wire.ts";

/** Told about each watch event: the path that changed and the watch's token. */
export type LocalWatchCallback = (path: string, token: string) => void;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** dom0 as a requester of its own store. */
class Dom0Requester implements Requester {
  readonly who = { domid: 0, privileged: true };
  readonly transactions = new Map<number, Transaction>();
  readonly callbacks = new Map<string, LocalWatchCallback>();
  private nextTx = 0;

  allocTxId(): number {
    return ++this.nextTx;
  }

  watchEvent(path: string, token: string): void {
    const cb = this.callbacks.get(token);
    if (cb) setImmediate(() => this.callbacks.get(token) === cb && cb(path, token));
  }
}

/** The in-process API that Xenstored exposes; subclasses provide the core. */
export abstract class LocalClient {
  private readonly dom0 = new Dom0Requester();
  private nextToken = 1;

  protected abstract core(): ServerCore;

  private request(type: number, payload: Uint8Array | string, txId = 0): Uint8Array {
    const bytes = typeof payload === "string" ? bytesOf(payload) : payload;
    const msg: XsMsg = { type, reqId: 0, txId, payload: bytes };
    const r = handleRequest(this.core(), this.dom0, msg);
    r.after?.();
    return typeof r.payload === "string" ? bytesOf(r.payload) : r.payload;
  }

  /** The value at `path` as UTF-8 text; throws XsdError (ENOENT, EINVAL...). */
  read(path: string): string {
    return fromUtf8.decode(this.readBytes(path));
  }

  /** The raw value at `path`. */
  readBytes(path: string): Uint8Array {
    return this.request(X.XS_READ, bytesOf(path + "\0"));
  }

  /** read() that answers undefined for a missing node. */
  tryRead(path: string): string | undefined {
    try {
      return this.read(path);
    } catch (e) {
      if (e instanceof XsdError && e.code === "ENOENT") return undefined;
      throw e;
    }
  }

  /** Writes a value (string as UTF-8), creating parents as needed. */
  write(path: string, value: string | Uint8Array): void {
    const v = typeof value === "string" ? utf8.encode(value) : value;
    const p = bytesOf(path + "\0");
    const payload = new Uint8Array(p.length + v.length);
    payload.set(p);
    payload.set(v, p.length);
    this.request(X.XS_WRITE, payload);
  }

  mkdir(path: string): void {
    this.request(X.XS_MKDIR, path + "\0");
  }

  /** Removes a subtree; a missing node whose parent exists is not an error. */
  rm(path: string): void {
    this.request(X.XS_RM, path + "\0");
  }

  /** Child names in creation order (no size limit here: the wire's E2BIG does not apply). */
  directory(path: string): string[] {
    try {
      return stringArgs0(this.request(X.XS_DIRECTORY, path + "\0"));
    } catch (e) {
      if (!(e instanceof XsdError && e.code === "E2BIG")) throw e;
      const names: string[] = [];
      for (let off = 0; ;) {
        const part = textOf(this.request(X.XS_DIRECTORY_PART, `${path}\0${off}\0`));
        const body = part.slice(part.indexOf("\0") + 1);
        if (body === "\0") return names;
        const chunk = body.endsWith("\0\0") ? body.slice(0, -1) : body;
        names.push(...chunk.slice(0, -1).split("\0"));
        off += chunk.length;
        if (body.endsWith("\0\0")) return names;
      }
    }
  }

  /** Permission list, e.g. [{id: 0, perm: PERM_NONE}, {id: 5, perm: PERM_READ}]. */
  getPerms(path: string): string[] {
    return stringArgs0(this.request(X.XS_GET_PERMS, path + "\0"));
  }

  /** Sets perms, given as Perm values or wire strings ("n0", "r5"). */
  setPerms(path: string, perms: ReadonlyArray<Perm | string>): void {
    const list = perms.map((p) => (typeof p === "string" ? p : formatPerm(p)));
    this.request(X.XS_SET_PERMS, [path, ...list].map((s) => s + "\0").join(""));
  }

  /**
   * Watches `path` (or a special name): `cb` runs once soon after registration, then after every
   * change at or under it. Returns the function that removes the watch.
   */
  watch(path: string, cb: LocalWatchCallback, token = `dom0-local-${this.nextToken++}`): () => void {
    this.dom0.callbacks.set(token, cb);
    try {
      this.request(X.XS_WATCH, `${path}\0${token}\0`);
    } catch (e) {
      this.dom0.callbacks.delete(token);
      throw e;
    }
    return () => {
      if (!this.dom0.callbacks.delete(token)) return; // already removed
      this.request(X.XS_UNWATCH, `${path}\0${token}\0`);
    };
  }

  /**
   * Runs `fn` inside a transaction and commits it; a conflict throws XsdError("EAGAIN") (retry by
   * calling again). `fn` gets read/write/rm bound to the transaction.
   */
  transaction<T>(
    fn: (tx: { read(p: string): string; write(p: string, v: string): void; rm(p: string): void }) => T,
  ): T {
    const id = Number(textOf(this.request(X.XS_TRANSACTION_START, "\0")).replace("\0", ""));
    let ok = false;
    try {
      const result = fn({
        read: (p) => fromUtf8.decode(this.request(X.XS_READ, p + "\0", id)),
        write: (p, v) => this.request(X.XS_WRITE, p + "\0" + textOf(utf8.encode(v)), id),
        rm: (p) => this.request(X.XS_RM, p + "\0", id),
      });
      ok = true;
      return result;
    } finally {
      this.request(X.XS_TRANSACTION_END, ok ? "T\0" : "F\0", id);
    }
  }
}

function stringArgs0(payload: Uint8Array): string[] {
  return payload.length === 0 ? [] : stringArgs(payload);
}
