/**
 * The unix socket transport: what libxenstore connects to when XENSTORED_PATH names our socket.
 * Local socket clients are privileged (dom0's tools), as with C xenstored. A client whose stream is
 * unrecoverable (a length over XENSTORE_PAYLOAD_MAX) gets E2BIG and is disconnected; one that stops
 * reading is paused at SOCKET_PAUSE_BYTES and disconnected past quota.socketBacklogBytes.
 */
import type { Socket } from "node:net";
import { XS_ERROR } from "./abi.ts";
import { Connection } from "./connection.ts";
import type { QuotaLimits } from "./quota.ts";
import { Framer, bytesOf, type XsMsg } from "./wire.ts";

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
  ) {
    super({ domid: 0, privileged: true }, quota, `socket#${id}`);
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
        this.sendReply(XS_ERROR, frame.reqId, 0, bytesOf("E2BIG\0"));
        this.log(`xenstored: ${this.label}: message of ${frame.len} bytes; disconnecting`);
        // Let the error reach the client, but do not wait forever for one that does not read.
        this.socket.end();
        setTimeout(() => this.socket.destroy(), 1000).unref();
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
