/**
 * Test helper for xenstored: a Connection that records what the server sends it, and `req()` to issue
 * one wire request and get its reply. `hold` stops the "transport" taking messages (a client that does
 * not read), to exercise backlog limits.
 */
import * as X from "../src/dom0/xenstored/abi.ts";
import { Connection } from "../src/dom0/xenstored/index.ts";
import type { Xenstored } from "../src/dom0/xenstored/index.ts";

export interface Sent {
  type: number;
  reqId: number;
  txId: number;
  text: string;
}

export class TestConn extends Connection {
  readonly sent: Sent[] = [];
  hold = false;
  private reqId = 1;

  constructor(
    private readonly xs: Xenstored,
    domid: number,
    privileged = domid === 0,
  ) {
    super({ domid, privileged }, xs.quota, `test ${domid}`);
    this.onClosed = () => xs.watches.removeAll(this);
  }

  protected pump(): void {
    if (this.hold) return;
    for (let q = this.shiftOutbox(); q; q = this.shiftOutbox()) {
      const v = new DataView(q.bytes.buffer, q.bytes.byteOffset);
      this.sent.push({
        type: v.getUint32(0, true),
        reqId: v.getUint32(4, true),
        txId: v.getUint32(8, true),
        text: Buffer.from(q.bytes.subarray(16)).toString("latin1"),
      });
    }
  }

  /** Releases held messages. */
  release(): void {
    this.hold = false;
    this.pump();
  }

  protected onClose(): void {}

  /** Sends one request; returns the reply's type name ("ERROR" or "OK") and text. */
  req(type: number, payload: string, txId = 0): { error?: string; text: string } {
    const reqId = this.reqId++;
    this.xs.handle(this, { type, reqId, txId, payload: Buffer.from(payload, "latin1") });
    const r = this.sent.find((s) => s.reqId === reqId && s.type !== X.XS_WATCH_EVENT);
    if (!r) throw new Error("no reply (held?)");
    this.sent.splice(this.sent.indexOf(r), 1);
    return r.type === X.XS_ERROR ? { error: r.text.replace(/\0$/, ""), text: r.text } : { text: r.text };
  }

  /** Watch events received so far (and forgets them): "path token". */
  events(): string[] {
    const ev = this.sent.filter((s) => s.type === X.XS_WATCH_EVENT);
    for (const e of ev) this.sent.splice(this.sent.indexOf(e), 1);
    return ev.map((e) => e.text.split("\0").slice(0, 2).join(" "));
  }
}
