/**
 * A small xenstored for tests: serves one domain's xenstore ring page (the server side of
 * xenstore_domain_interface) from a plain in-memory tree. It is deliberately simple: no
 * permissions, flat transactions (changes apply at commit), and a knob to make commits fail
 * with EAGAIN so the client's retry path is exercised.
 */
import { ByteRing } from "../../src/kernel/bytering.ts";
import { XENSTORE_RING } from "../../src/kernel/xen.ts";
import {
  XS,
  XSD_SOCKMSG_SIZE,
  decodeHeader,
  encodeMessage,
  nulFields,
  splitFields,
} from "../../src/xenbus/wire.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();

export class FakeXenstored {
  readonly tree = new Map<string, string>([["/", ""]]);
  readonly watches: { path: string; token: string }[] = [];
  /** Commits still to refuse with EAGAIN. */
  failCommits = 0;
  commits = 0;
  requests: number[] = [];
  private readonly req: ByteRing;
  private readonly rsp: ByteRing;
  private inbuf = new Uint8Array(0);
  private outbox: Uint8Array[] = [];
  private txs = new Map<number, Map<string, string | null>>();
  private nextTx = 1;

  constructor(
    page: DataView,
    private readonly notifyGuest: () => void,
    private readonly domid = 1,
  ) {
    const R = XENSTORE_RING;
    this.req = new ByteRing(page, { data: R.req, size: R.size, cons: R.reqCons, prod: R.reqProd });
    this.rsp = new ByteRing(page, { data: R.rsp, size: R.size, cons: R.rspCons, prod: R.rspProd });
  }

  private abs(p: string): string {
    return p.startsWith("/") ? p : `/local/domain/${this.domid}/${p}`;
  }

  /** Server-side write (as the toolstack would), firing watches. */
  set(path: string, value: string): void {
    const p = this.abs(path);
    const parts = p.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const anc = "/" + parts.slice(0, i).join("/");
      if (!this.tree.has(anc)) this.tree.set(anc, "");
    }
    this.tree.set(p, value);
    this.fire(p);
    this.kick();
  }

  private fire(path: string): void {
    for (const w of this.watches) {
      const wp = this.abs(w.path);
      if (path === wp || path.startsWith(wp + "/")) this.send(XS.WATCH_EVENT, 0, 0, nulFields(path, w.token));
    }
  }

  private send(type: number, reqId: number, txId: number, payload: Uint8Array): void {
    this.outbox.push(encodeMessage(type, reqId, txId, payload));
  }

  private kick(): void {
    let wrote = false;
    while (this.outbox.length > 0) {
      const n = this.rsp.write(this.outbox[0]);
      if (n > 0) wrote = true;
      if (n < this.outbox[0].length) {
        this.outbox[0] = this.outbox[0].subarray(n);
        break;
      }
      this.outbox.shift();
    }
    if (wrote) this.notifyGuest();
  }

  /** The server's event handler. */
  poll(): void {
    let consumed = false;
    for (;;) {
      const c = this.req.read();
      if (c.length === 0) break;
      consumed = true;
      const m = new Uint8Array(this.inbuf.length + c.length);
      m.set(this.inbuf);
      m.set(c, this.inbuf.length);
      this.inbuf = m;
    }
    while (this.inbuf.length >= XSD_SOCKMSG_SIZE) {
      const h = decodeHeader(this.inbuf);
      if (this.inbuf.length < XSD_SOCKMSG_SIZE + h.len) break;
      const payload = this.inbuf.slice(XSD_SOCKMSG_SIZE, XSD_SOCKMSG_SIZE + h.len);
      this.inbuf = this.inbuf.slice(XSD_SOCKMSG_SIZE + h.len);
      this.handle(h.type, h.reqId, h.txId, payload);
    }
    // Tell the guest we made room in the request ring (it may be mid-way through a big request).
    if (consumed) this.notifyGuest();
    this.kick();
  }

  private get(tx: number, p: string): string | undefined {
    const t = this.txs.get(tx);
    if (t && t.has(p)) return t.get(p) ?? undefined;
    return this.tree.get(p);
  }

  private handle(type: number, reqId: number, txId: number, payload: Uint8Array): void {
    this.requests.push(type);
    const err = (code: string) => this.send(XS.ERROR, reqId, txId, nulFields(code));
    const ok = () => this.send(type, reqId, txId, nulFields("OK"));
    const f = splitFields(payload);
    if (txId !== 0 && !this.txs.has(txId)) return err("ENOENT");
    switch (type) {
      case XS.READ: {
        const v = this.get(txId, this.abs(f[0]));
        return v === undefined ? err("ENOENT") : this.send(type, reqId, txId, enc.encode(v));
      }
      case XS.WRITE: {
        const nul = payload.indexOf(0);
        const path = this.abs(dec.decode(payload.subarray(0, nul)));
        const value = dec.decode(payload.subarray(nul + 1));
        if (txId) this.txs.get(txId)!.set(path, value);
        else this.set(path, value);
        return ok();
      }
      case XS.MKDIR: {
        const p = this.abs(f[0]);
        if (this.get(txId, p) === undefined) {
          if (txId) this.txs.get(txId)!.set(p, "");
          else this.set(p, "");
        }
        return ok();
      }
      case XS.RM: {
        const p = this.abs(f[0]);
        if (!this.tree.has(p)) return err("ENOENT");
        for (const k of [...this.tree.keys()]) if (k === p || k.startsWith(p + "/")) this.tree.delete(k);
        this.fire(p);
        return ok();
      }
      case XS.DIRECTORY: {
        const p = this.abs(f[0]);
        if (this.get(txId, p) === undefined) return err("ENOENT");
        const pre = p === "/" ? "/" : p + "/";
        const kids = [...this.tree.keys()]
          .filter((k) => k.startsWith(pre) && k !== p && !k.slice(pre.length).includes("/"))
          .map((k) => k.slice(pre.length));
        return this.send(type, reqId, txId, nulFields(...kids));
      }
      case XS.WATCH:
        this.watches.push({ path: f[0], token: f[1] });
        ok();
        // Like xenstored, fire once at registration.
        return this.send(XS.WATCH_EVENT, 0, 0, nulFields(this.abs(f[0]), f[1]));
      case XS.UNWATCH: {
        const i = this.watches.findIndex((w) => w.path === f[0] && w.token === f[1]);
        if (i < 0) return err("ENOENT");
        this.watches.splice(i, 1);
        return ok();
      }
      case XS.TRANSACTION_START: {
        const id = this.nextTx++;
        this.txs.set(id, new Map());
        return this.send(type, reqId, 0, nulFields(String(id)));
      }
      case XS.TRANSACTION_END: {
        const t = this.txs.get(txId)!;
        this.txs.delete(txId);
        if (f[0] === "T") {
          if (this.failCommits > 0) {
            this.failCommits--;
            return err("EAGAIN");
          }
          this.commits++;
          for (const [k, v] of t) if (v !== null) this.set(k, v);
        }
        return ok();
      }
      case XS.GET_DOMAIN_PATH:
        return this.send(type, reqId, txId, nulFields(`/local/domain/${f[0]}`));
      default:
        return err("ENOSYS");
    }
  }
}
