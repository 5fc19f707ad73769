/**
 * What programs hold: a connection as a TcpSocket (a byte stream with promises) and a listening
 * port as a TcpServer (a stream of connections). The connection calls wake() whenever something
 * may have changed — bytes to read, room to write, a new state — and these settle whichever
 * promises can settle now. Nothing here touches the wire.
 */
import { TcpError, type TcpServer, type TcpSocket, type TcpState } from "./api.ts";
import type { Connection } from "./tcp-connection.ts";
import { formatIp } from "./ipv4.ts";

/** A read hands over at most this much at once (chunks already received are joined up to it). */
const READ_MAX = 256 * 1024;

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: Error): void;
}

const encoder = new TextEncoder();

export class Socket implements TcpSocket {
  readonly localAddress: string;
  readonly remoteAddress: string;
  readonly closed: Promise<TcpError | undefined>;
  private readers: Waiter<Uint8Array | null>[] = [];
  private writers: (() => void)[] = [];
  private enders: Waiter<void>[] = [];
  private resolveClosed!: (e: TcpError | undefined) => void;
  /** The connection reached ESTABLISHED, or failed first (connect() waits on this). */
  readonly opened: Promise<void>;
  private settleOpened!: Waiter<void>;

  constructor(
    private readonly c: Connection,
    localIp: Uint8Array,
  ) {
    this.localAddress = formatIp(localIp);
    this.remoteAddress = formatIp(c.remoteIp);
    this.closed = new Promise((r) => (this.resolveClosed = r));
    this.opened = new Promise((resolve, reject) => (this.settleOpened = { resolve, reject }));
    this.opened.catch(() => {});
    c.wake = () => this.wake();
    this.wake();
  }

  get localPort(): number {
    return this.c.localPort;
  }
  get remotePort(): number {
    return this.c.remotePort;
  }
  get state(): TcpState {
    return this.c.state;
  }

  read(): Promise<Uint8Array | null> {
    return new Promise((resolve, reject) => {
      this.readers.push({ resolve, reject });
      this.wake();
    });
  }

  async write(data: Uint8Array | string): Promise<void> {
    let rest = typeof data === "string" ? encoder.encode(data) : data;
    for (;;) {
      if (this.c.error) throw this.c.error;
      const n = this.c.write(rest); // throws EPIPE after end()
      rest = rest.subarray(n);
      if (rest.length === 0) return;
      await new Promise<void>((r) => this.writers.push(r)); // backpressure: wait for ACKs
    }
  }

  end(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.enders.push({ resolve, reject });
      this.c.end();
      this.wake();
    });
  }

  destroy(): void {
    this.c.abort();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const chunk = await this.read();
      if (chunk === null) return;
      yield chunk;
    }
  }

  /** Settles what can be settled now. */
  private wake(): void {
    const c = this.c;
    const state = c.state;
    if (state !== "SYN_SENT" && state !== "SYN_RECEIVED") {
      if (c.error) this.settleOpened.reject(c.error);
      else this.settleOpened.resolve();
    }
    while (this.readers.length > 0) {
      const chunk = this.readJoined();
      if (chunk === undefined) {
        if (!c.error) break;
        this.readers.shift()!.reject(c.error);
        continue;
      }
      this.readers.shift()!.resolve(chunk);
    }
    if (this.writers.length > 0 && (c.sendBuffer.free > 0 || c.error || state === "CLOSED")) {
      for (const w of this.writers.splice(0)) w();
    }
    const finAcked = c.finSeq !== undefined && ((c.sndUna - c.finSeq) | 0) > 0;
    if (this.enders.length > 0 && (finAcked || state === "CLOSED" || state === "TIME_WAIT")) {
      for (const e of this.enders.splice(0)) {
        if (c.error && !finAcked) e.reject(c.error);
        else e.resolve();
      }
    }
    if (state === "CLOSED" || state === "TIME_WAIT") this.resolveClosed(c.error);
  }

  /** Everything ready, joined up to READ_MAX; null at the end; undefined when nothing yet. */
  private readJoined(): Uint8Array | null | undefined {
    const first = this.c.read(READ_MAX);
    if (!first) return first;
    const more: Uint8Array[] = [];
    let n = first.length;
    for (let next; n < READ_MAX && (next = this.c.read(READ_MAX - n)); n += next.length) more.push(next);
    if (more.length === 0) return first;
    const out = new Uint8Array(n);
    out.set(first);
    let at = first.length;
    for (const m of more) (out.set(m, at), (at += m.length));
    return out;
  }
}

/** A listening port: connections arrive in accept order. */
export class Server implements TcpServer {
  private readonly queue: Socket[] = [];
  private readonly waiting: ((s: Socket | null) => void)[] = [];
  private closedFlag = false;

  constructor(
    readonly port: number,
    readonly backlog: number,
    private readonly onClose: () => void,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** A passive connection reached ESTABLISHED. */
  push(s: Socket): void {
    const w = this.waiting.shift();
    if (w) w(s);
    else this.queue.push(s);
  }

  accept(): Promise<Socket | null> {
    const s = this.queue.shift();
    if (s) return Promise.resolve(s);
    if (this.closedFlag) return Promise.resolve(null);
    return new Promise((r) => this.waiting.push(r));
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const s of this.queue.splice(0)) s.destroy();
    for (const w of this.waiting.splice(0)) w(null);
    this.onClose();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TcpSocket> {
    for (;;) {
      const s = await this.accept();
      if (s === null) return;
      yield s;
    }
  }
}

export { TcpError };
