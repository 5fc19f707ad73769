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
