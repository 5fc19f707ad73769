/**
 * The unix socket transport: what libxenstore connects to when XENSTORED_PATH names our socket.
 * Local socket clients are privileged (dom0's tools), as with C xenstored, unless the socket was
 * opened to act as a guest domain. A client whose stream is unrecoverable (a length over
 * XENSTORE_PAYLOAD_MAX) is dropped without a reply, as C xenstored drops it; one that stops reading
 * is paused at SOCKET_PAUSE_BYTES and disconnected past quota.socketBacklogBytes.
 */
import type { Socket } from "node:net";
import { Connection } from "./connection.ts";
import type { QuotaLimits } from "./quota.ts";
import { Framer, type XsMsg } from "./wire.ts";

/** Above this many unsent bytes we stop reading the client's requests until the socket drains. */
export const SOCKET_PAUSE_BYTES = 64 * 1024;

/** One local client. */
export class SocketConnection extends Connection {
  private readonly framer = new Framer();
  private paused = false;

  constructor(
    private readonly socket: Socket,
    id: number,
    private readonly deliver: (conn: SocketConnection, msg: XsMsg) => void,
    quota: Readonly<QuotaLimits>,
    private readonly log: (line: string) => void,
    /** The domain the client acts as: 0 (privileged), or a guest's id. */
    domid = 0,
  ) {
    super(
      { domid, privileged: domid === 0 },
      quota,
      domid ? `socket#${id} (as domain ${domid})` : `socket#${id}`,
    );
    socket.on("data", (chunk: Buffer) => {
      this.framer.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.readRequests();
    });
    socket.on("drain", () => this.readRequests());
    socket.on("error", () => this.close("socket error"));
    socket.on("close", () => this.close("peer closed"));
  }

  override wantsRequests(): boolean {
    return super.wantsRequests() && this.socket.writableLength < SOCKET_PAUSE_BYTES;
  }

  private readRequests(): void {
    while (this.wantsRequests()) {
      const frame = this.framer.next();
      if (!frame) break;
      if (frame.kind === "oversize") {
        this.log(`xenstored: ${this.label}: message of ${frame.len} bytes; dropping the connection`);
        this.close("oversize message");
        return;
      }
      this.deliver(this, frame.msg);
    }
    // Stop the socket while we hold unread requests; 'drain' (or a reply leaving) restarts us.
    const hold = !this.closed && this.framer.pending > 0 && !this.wantsRequests();
    if (hold && !this.paused) this.socket.pause();
    if (!hold && this.paused) this.socket.resume();
    this.paused = hold;
  }

  protected pump(): void {
    while (this.outbox.length > 0) this.socket.write(this.shiftOutbox()!.bytes);
    if (this.socket.writableLength > this.quota.socketBacklogBytes) {
      this.log(`xenstored: ${this.label}: ${this.socket.writableLength} bytes unread; disconnecting`);
      this.close("backlog");
    }
  }

  protected onClose(): void {
    if (!this.socket.writableEnded) this.socket.destroy();
  }
}
