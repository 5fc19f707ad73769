/**
 * What the IPv4 stack (stack.ts) offers programs: ping's options and results, UDP sockets, the
 * counters, and how a stack is made. Programs get a stack from startIp(k) and use these shapes.
 */

export interface PingOptions {
  /** Probes to send (4). */
  count?: number;
  /** Pause between a probe's answer (or timeout) and the next probe, in ms (1000). */
  intervalMs?: number;
  /** How long to wait for each reply, in ms (1000). */
  timeoutMs?: number;
  /** Data bytes per probe (56, as ping's default). */
  size?: number;
  ttl?: number;
  /**
   * Called after each probe with its round-trip time and the reply's TTL, both undefined when it
   * timed out.
   */
  onReply?(seq: number, rttMs: number | undefined, ttl: number | undefined): void;
}

export interface PingResult {
  address: string;
  sent: number;
  received: number;
  /** One per probe, undefined for the lost ones. */
  rttMs: (number | undefined)[];
}

export interface UdpSource {
  address: string;
  port: number;
}

export type UdpHandler = (data: Uint8Array, from: UdpSource) => void;

export interface UdpSocket {
  readonly port: number;
  /** Sends `data` from this socket's port; throws when the destination cannot be reached. */
  sendTo(address: string, port: number, data: Uint8Array): void;
  /** Calls `fn` when an ICMP destination unreachable comes back for a datagram from this port. */
  onUnreachable(fn: (to: UdpSource, code: number) => void): void;
  close(): void;
}

export interface StackStats {
  /** What went through: "ip.in", "icmp.echo-replies-sent", "udp.out", ... */
  counters: Record<string, number>;
  /** What was dropped, by reason: "ip.bad-checksum", "udp.no-port", ... */
  dropped: Record<string, number>;
}

export interface StackOptions {
  /** "10.0.0.1" or "10.0.0.1/16"; a /24 without a prefix. */
  address: string;
  /** Milliseconds, monotonic. */
  now(): number;
  /**
   * Runs `fn` after `ms`; returns a function that cancels it. setTimeout when left out (tests on
   * the host); in a guest startIp passes the kernel's timers.
   */
  setTimer?(fn: () => void, ms: number): () => void;
}

/** RFC 9293's connection states, as netstat names them. */
export type TcpState =
  | "LISTEN"
  | "SYN_SENT"
  | "SYN_RECEIVED"
  | "ESTABLISHED"
  | "FIN_WAIT_1"
  | "FIN_WAIT_2"
  | "CLOSE_WAIT"
  | "CLOSING"
  | "LAST_ACK"
  | "TIME_WAIT"
  | "CLOSED";

/** Why a connection failed, with node's codes: ECONNREFUSED (RST to our SYN), ECONNRESET, ETIMEDOUT. */
export class TcpError extends Error {
  constructor(
    readonly code: "ECONNREFUSED" | "ECONNRESET" | "ETIMEDOUT" | "EPIPE" | "EADDRINUSE" | "ENETUNREACH",
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "TcpError";
  }
}

export interface TcpConnectOptions {
  /** Our port (an ephemeral one when left out). */
  localPort?: number;
  /** Give up on the handshake after this long, in ms (Linux's default of 6 SYN retries is ~127 s; 30 000). */
  timeoutMs?: number;
}

export interface TcpListenOptions {
  /** Connections completed but not yet accepted, and half-open ones, at most (128, Linux's somaxconn). */
  backlog?: number;
}

/**
 * One TCP connection as a byte stream, shaped like Node's conventions: `for await (const chunk of
 * sock)` reads until the peer's FIN, `await sock.write(data)` resolves once the data fits the send
 * buffer (backpressure: a writer that outruns the peer waits), `end()` sends FIN after what was
 * written, `destroy()` aborts with RST.
 */
export interface TcpSocket extends AsyncIterable<Uint8Array> {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly state: TcpState;
  /** The next chunk received, or null after the peer's FIN. Rejects with TcpError on a reset. */
  read(): Promise<Uint8Array | null>;
  /** Queues `data` (a string is UTF-8); resolves when it is in the send buffer. Rejects (EPIPE) after end(). */
  write(data: Uint8Array | string): Promise<void>;
  /** Sends FIN once everything written is sent; resolves when the peer has acknowledged it. */
  end(): Promise<void>;
  /** Aborts the connection: RST to the peer, pending reads and writes reject with ECONNRESET. */
  destroy(): void;
  /** Resolves when the connection is gone (CLOSED or TIME_WAIT), with the error that ended it if any. */
  readonly closed: Promise<TcpError | undefined>;
}

/** A listening port: `for await (const sock of server)` accepts connections until close(). */
export interface TcpServer extends AsyncIterable<TcpSocket> {
  readonly port: number;
  /** The next established connection, or null once the server is closed. */
  accept(): Promise<TcpSocket | null>;
  /** Stops listening; connections not yet accepted are reset, accepted ones go on. */
  close(): void;
}

/** One line of netstat. */
export interface TcpConnectionInfo {
  state: TcpState;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Bytes received and not yet read by the program (netstat's Recv-Q). */
  recvQ: number;
  /** Bytes written and not yet acknowledged by the peer (netstat's Send-Q). */
  sendQ: number;
}
