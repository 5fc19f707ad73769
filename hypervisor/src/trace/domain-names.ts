/**
 * Domain names for traces. As in Xen, the hypervisor never learns the name a user gave a domain:
 * XEN_DOMCTL_createdomain carries only an id, and the toolstack keeps the name in xenstore
 * (/local/domain/<id>/name), where `xl list` reads it. So the host reads it there too, as any dom0
 * tool would, over xenstored's socket: each time a domain is unpaused — the toolstack writes a
 * domain's entries before it first unpauses it — it reads the name and hands it to the tracer, which
 * keeps it after the domain is gone. Until then a domain is called what the hypervisor calls it
 * ("domain-<id>").
 *
 * One xs_wire connection (io/xs_wire.h: a 16-byte xsd_sockmsg header, then the payload), XS_READ
 * only. Nothing here is on a hot path: one read per unpause.
 */
import { connect, type Socket } from "node:net";
import { XS_READ, XsdSockmsg } from "@pvkit/abi/layout";
import type { Hypervisor } from "../hypervisor.ts";

export class DomainNames {
  private sock?: Socket;
  private buf = Buffer.alloc(0);
  private nextReq = 1;
  /** Outstanding reads: request id → the domain whose name was asked for. */
  private readonly pending = new Map<number, number>();
  private readonly onDomain = (e: { domid: number; state: string }) => {
    if (e.state === "running" && e.domid !== 0) this.ask(e.domid);
  };

  constructor(private readonly hv: Hypervisor) {}

  /** Connects to xenstored at `path` and follows domains from now on. */
  async start(path: string): Promise<void> {
    const sock = connect(path);
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", () => resolve());
      sock.once("error", reject);
    });
    // A store that goes away only costs names: the trace falls back to "domain-<id>".
    sock.on("error", () => sock.destroy());
    sock.on("data", (chunk: Buffer) => this.receive(chunk));
    this.sock = sock;
    this.hv.on("domain", this.onDomain);
  }

  private ask(domid: number): void {
    if (!this.sock || this.sock.destroyed) return;
    const req = this.nextReq++;
    this.pending.set(req, domid);
    const payload = Buffer.from(`/local/domain/${domid}/name\0`, "utf8");
    const head = new DataView(new ArrayBuffer(XsdSockmsg.size));
    XsdSockmsg.encode(head, 0, { type: XS_READ, req_id: req, tx_id: 0, len: payload.length });
    this.sock.write(Buffer.concat([new Uint8Array(head.buffer), payload]));
  }

  private receive(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= XsdSockmsg.size) {
      const view = new DataView(this.buf.buffer, this.buf.byteOffset, XsdSockmsg.size);
      const h = XsdSockmsg.decode(view, 0);
      const end = XsdSockmsg.size + h.len;
      if (this.buf.length < end) return;
      const payload = this.buf.subarray(XsdSockmsg.size, end).toString("utf8");
      this.buf = this.buf.subarray(end);
      const domid = this.pending.get(h.req_id);
      this.pending.delete(h.req_id);
      // XS_ERROR (ENOENT: a domain the toolstack did not make, or already gone) leaves the name as it was.
      if (domid !== undefined && h.type === XS_READ && payload.length > 0)
        this.hv.trace.nameDomain(domid, payload.replace(/\0+$/, ""));
    }
  }

  close(): void {
    this.hv.off("domain", this.onDomain);
    this.sock?.destroy();
  }
}
