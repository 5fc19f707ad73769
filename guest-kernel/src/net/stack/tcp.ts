/**
 * TCP for one IPv4 address: which connection or listener a segment belongs to, the resets for
 * segments that belong to nobody, opening connections both ways, and the table netstat prints.
 * The per-connection work is tcp-input.ts and tcp-output.ts.
 *
 * Connections are found by (local port, remote address, remote port). A SYN for a listening port
 * makes a SYN_RECEIVED connection on the listener's account; when the handshake completes it moves
 * to the listener's accept queue. A SYN flood fills the half-open count: past the backlog the
 * oldest half-open connection is dropped for the new one (a real client answers our SYN-ACK within
 * a round trip; a forged source never does), so genuine clients still get through.
 *
 * Initial sequence numbers follow RFC 6528: a clock that ticks every 4 µs plus a keyed hash of the
 * connection's addresses and ports, so each connection starts somewhere no off-path attacker can
 * guess and a new incarnation of the same four-tuple starts past the old one.
 */
import {
  TcpError,
  type TcpConnectOptions,
  type TcpConnectionInfo,
  type TcpListenOptions,
  type TcpServer,
  type TcpSocket,
} from "./api.ts";
import { Connection, type TcpHost } from "./tcp-connection.ts";
import { tcpInput } from "./tcp-input.ts";
import { ACK, RST, SYN, parseTcp, segmentLength, type TcpBuild, type TcpSegment } from "./tcp-segment.ts";
import { seqAdd, seqGt } from "./tcp-seq.ts";
import { Server, Socket } from "./tcp-socket.ts";
import { formatIp, ipNumber, parseIp, type Ipv4Header } from "./ipv4.ts";

const EPHEMERAL_FIRST = 49152;
const DEFAULT_BACKLOG = 128;
const CONNECT_TIMEOUT_MS = 30_000;
/** Challenge ACKs (and ACKs for out-of-window segments) a stack sends per second at most. */
const CHALLENGE_ACKS_PER_SECOND = 1000;

export interface TcpDeps {
  ip: Uint8Array;
  /** The largest TCP payload one unsegmented frame carries: MTU - 40. */
  mss: number;
  now(): number;
  setTimer(fn: () => void, ms: number): () => void;
  count(what: string, n?: number): void;
  drop(why: string, n?: number): void;
  /**
   * Sends a TCP segment of `length` bytes to `dst`; `fill` writes it at `at` in the buffer.
   * `tso`: the segment is a TSO frame (its header is `hdrLen` bytes), to be cut at `mss`.
   * Throws when `dst` is not reachable.
   */
  sendSegment(
    dst: Uint8Array,
    length: number,
    fill: (buf: Uint8Array, at: number) => void,
    tso?: { mss: number; tcpHeaderLength: number },
  ): void;
  /** Writes header `h` and checksums (unless `checksum` is false) for a segment already filled. */
  writeHeader(
    buf: Uint8Array,
    at: number,
    dst: Uint8Array,
    h: TcpBuild,
    dataLen: number,
    checksum: boolean,
  ): void;
  headerLength(h: TcpBuild): number;
  /** The peer at `ip` acknowledged new data: it is reachable (keeps its ARP entry fresh). */
  confirm(ip: Uint8Array): void;
}

interface Listener {
  server: Server;
  halfOpen: Set<Connection>;
}

const key = (localPort: number, remote: number, remotePort: number) => `${localPort}/${remote}/${remotePort}`;

/** A 32-bit mix (murmur3's finalizer) of `x`: every input bit moves every output bit. */
function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

export class Tcp {
  private readonly conns = new Map<string, Connection>();
  private readonly sockets = new WeakMap<Connection, Socket>();
  private readonly listeners = new Map<number, Listener>();
  /** Which listener a half-open connection belongs to. */
  private readonly owner = new WeakMap<Connection, Listener>();
  private readonly secret = Array.from({ length: 4 }, () => Math.floor(Math.random() * 2 ** 32) >>> 0);
  private nextEphemeral = EPHEMERAL_FIRST + Math.floor(Math.random() * (65536 - EPHEMERAL_FIRST));
  private readonly host: TcpHost;
  private challenges = { start: -Infinity, sent: 0 };

  constructor(private readonly d: TcpDeps) {
    this.host = {
      localIp: d.ip,
      now: d.now,
      setTimer: d.setTimer,
      count: d.count,
      drop: d.drop,
      send: (c, h, len, fill, tsoMss) => this.send(c, h, len, fill, tsoMss),
      release: (c) => this.release(c),
      established: (c) => this.established(c),
      mayChallenge: () => {
        const now = d.now();
        if (now - this.challenges.start >= 1000) this.challenges = { start: now, sent: 0 };
        return this.challenges.sent++ < CHALLENGE_ACKS_PER_SECOND;
      },
    };
  }

  /** RFC 6528's ISN for a four-tuple. */
  private isn(localPort: number, remote: number, remotePort: number): number {
    const [a, b, c, e] = this.secret as [number, number, number, number];
    const h = mix(mix(mix(remote ^ a) ^ ((localPort << 16) | remotePort) ^ b) ^ ipNumber(this.d.ip) ^ c) ^ e;
    return (Math.floor(this.d.now() * 250) + h) >>> 0; // 250 ticks per ms: one per 4 µs
  }

  private send(
    c: Connection,
    h: TcpBuild,
    len: number,
    fill?: (dst: Uint8Array, at: number) => void,
    tsoMss?: number,
  ): void {
    const hlen = this.d.headerLength(h);
    try {
      this.d.sendSegment(
        c.remoteIp,
        hlen + len,
        (buf, at) => {
          if (fill) fill(buf, at + hlen);
          this.d.writeHeader(buf, at, c.remoteIp, h, len, tsoMss === undefined);
        },
        tsoMss === undefined ? undefined : { mss: tsoMss, tcpHeaderLength: hlen },
      );
    } catch (e) {
      this.d.drop("tcp.send-failed");
      // Our SYN cannot leave (the peer is off our subnet): connect() fails now, not at its timeout.
      if (c.state === "SYN_SENT")
        c.fail(new TcpError("ENETUNREACH", e instanceof Error ? e.message : String(e)));
    }
  }

  /** A segment from the IPv4 layer; `checksumVerified`: dom0 checked its checksum (offload). */
  input(ip: Ipv4Header, checksumVerified = false): void {
    const seg = parseTcp(ip.payload, ip.src, ip.dst, checksumVerified);
    if (typeof seg === "string") return this.d.drop(seg);
    this.d.count("tcp.segments-in");
    const remote = ipNumber(ip.src);
    const c = this.conns.get(key(seg.dstPort, remote, seg.srcPort));
    if (c && c.state === "TIME_WAIT" && seg.flags === SYN && seqGt(seg.seq, c.rcv.rcvNxt)) {
      // A new SYN for a four-tuple in TIME_WAIT, past everything the old connection carried:
      // the old one is over, open the new one (RFC 9293 3.6.1; RFC 6191 with sequence numbers).
      this.d.count("tcp.time-wait-reused");
      c.closed();
    } else if (c) {
      const una = c.sndUna;
      tcpInput(c, seg);
      if (c.sndUna !== una) this.d.confirm(c.remoteIp);
      return;
    }
    const l = this.listeners.get(seg.dstPort);
    if (l && !l.server.isClosed) return this.listenInput(l, ip.src, seg);
    this.d.drop("tcp.no-socket");
    this.reset(ip.src, seg);
  }

  /**
   * The answer to a segment for no connection (RFC 9293 3.10.7.1): a reset that the sender will
   * accept, unless the segment was itself a reset.
   */
  private reset(src: Uint8Array, seg: TcpSegment): void {
    if (seg.flags & RST) return;
    this.d.count("tcp.resets-sent");
    const h: TcpBuild =
      seg.flags & ACK
        ? { srcPort: seg.dstPort, dstPort: seg.srcPort, seq: seg.ack, ack: 0, flags: RST, window: 0 }
        : {
            srcPort: seg.dstPort,
            dstPort: seg.srcPort,
            seq: 0,
            ack: seqAdd(seg.seq, segmentLength(seg)),
            flags: RST | ACK,
            window: 0,
          };
    const hlen = this.d.headerLength(h);
    try {
      this.d.sendSegment(src.slice(), hlen, (buf, at) => this.d.writeHeader(buf, at, src, h, 0, true));
    } catch {
      this.d.drop("tcp.send-failed");
    }
  }

  /** LISTEN (RFC 9293 3.10.7.2): only a SYN opens a connection. */
  private listenInput(l: Listener, src: Uint8Array, seg: TcpSegment): void {
    if (seg.flags & RST) return this.d.drop("tcp.listen-rst");
    if (seg.flags & ACK) {
      this.d.drop("tcp.listen-ack"); // an ACK for a connection we do not have (or a stale cookie)
      return this.reset(src, seg);
    }
    if (!(seg.flags & SYN)) return this.d.drop("tcp.listen-no-syn");
    if (l.server.queued >= l.server.backlog) return this.d.drop("tcp.accept-queue-full");
    if (l.halfOpen.size >= l.server.backlog) {
      // SYN flood defence: the oldest half-open connection makes room.
      const oldest = l.halfOpen.values().next().value as Connection;
      this.d.drop("tcp.syn-queue-evicted");
      oldest.closed();
    }
    const remote = ipNumber(src);
    const c = new Connection(
      this.host,
      { localPort: seg.dstPort, remoteIp: src.slice(), remotePort: seg.srcPort },
      this.isn(seg.dstPort, remote, seg.srcPort),
      "SYN_RECEIVED",
      this.d.mss,
    );
    c.passive = true;
    c.offerScale = seg.wscale !== undefined;
    c.synchronize(seg.seq, seg.mss, seg.wscale);
    c.sndWnd = seg.window;
    c.sndWl1 = seg.seq;
    c.maxSndWnd = seg.window;
    this.conns.set(key(seg.dstPort, remote, seg.srcPort), c);
    l.halfOpen.add(c);
    this.owner.set(c, l);
    this.d.count("tcp.passive-opens");
    c.output();
  }

  private established(c: Connection): void {
    const l = this.owner.get(c);
    if (!l) return;
    l.halfOpen.delete(c);
    this.owner.delete(c);
    if (l.server.isClosed) return c.abort();
    const s = new Socket(c, this.d.ip);
    this.sockets.set(c, s);
    l.server.push(s);
  }

  private release(c: Connection): void {
    const k = key(c.localPort, ipNumber(c.remoteIp), c.remotePort);
    if (this.conns.get(k) === c) this.conns.delete(k);
    this.owner.get(c)?.halfOpen.delete(c);
  }

  private freePort(remote: number, remotePort: number): number {
    for (let i = 0; i < 65536 - EPHEMERAL_FIRST; i++) {
      const p = this.nextEphemeral;
      this.nextEphemeral = p === 65535 ? EPHEMERAL_FIRST : p + 1;
      if (!this.listeners.has(p) && !this.conns.has(key(p, remote, remotePort))) return p;
    }
    throw new TcpError("EADDRINUSE", "no free local port");
  }

  /** Opens a connection to `address`:`port`; resolves once it is established. */
  async connect(address: string, port: number, o: TcpConnectOptions = {}): Promise<TcpSocket> {
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new RangeError(`port ${port} is not 1..65535`);
    const remoteIp = parseIp(address);
    const remote = ipNumber(remoteIp);
    const localPort = o.localPort ?? this.freePort(remote, port);
    if (this.conns.has(key(localPort, remote, port)))
      throw new TcpError(
        "EADDRINUSE",
        `${formatIp(this.d.ip)}:${localPort} is already connected to ${address}:${port}`,
      );
    const c = new Connection(
      this.host,
      { localPort, remoteIp, remotePort: port },
      this.isn(localPort, remote, port),
      "SYN_SENT",
      this.d.mss,
    );
    this.conns.set(key(localPort, remote, port), c);
    const s = new Socket(c, this.d.ip);
    this.sockets.set(c, s);
    this.d.count("tcp.active-opens");
    c.output();
    const cancel = this.d.setTimer(
      () => c.state === "SYN_SENT" && c.fail(new TcpError("ETIMEDOUT", `no answer from ${address}:${port}`)),
      o.timeoutMs ?? CONNECT_TIMEOUT_MS,
    );
    try {
      await s.opened;
    } finally {
      cancel();
    }
    return s;
  }

  /** Listens on `port`; throws EADDRINUSE when something already does. */
  listen(port: number, o: TcpListenOptions = {}): TcpServer {
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new RangeError(`port ${port} is not 1..65535`);
    if (this.listeners.has(port)) throw new TcpError("EADDRINUSE", `port ${port} is already listening`);
    const backlog = Math.max(1, Math.min(o.backlog ?? DEFAULT_BACKLOG, 4096));
    const l: Listener = {
      server: new Server(port, backlog, () => {
        this.listeners.delete(port);
        for (const c of l.halfOpen) c.abort();
      }),
      halfOpen: new Set(),
    };
    this.listeners.set(port, l);
    return l.server;
  }

  /** Every connection and listener, for netstat. */
  connections(): TcpConnectionInfo[] {
    const local = formatIp(this.d.ip);
    const rows: TcpConnectionInfo[] = [...this.listeners.keys()].map((port) => ({
      state: "LISTEN",
      localAddress: local,
      localPort: port,
      remoteAddress: "0.0.0.0",
      remotePort: 0,
      recvQ: this.listeners.get(port)!.server.queued,
      sendQ: 0,
    }));
    for (const c of this.conns.values())
      rows.push({
        state: c.state,
        localAddress: local,
        localPort: c.localPort,
        remoteAddress: formatIp(c.remoteIp),
        remotePort: c.remotePort,
        recvQ: c.rcv.readyBytes,
        sendQ: c.sendBuffer.length,
      });
    return rows.sort((a, b) => a.localPort - b.localPort || a.remotePort - b.remotePort);
  }

  /** Resets every connection and stops every timer (the stack is closing). */
  close(): void {
    for (const l of [...this.listeners.values()]) l.server.close();
    for (const c of [...this.conns.values()]) c.abort();
  }
}
