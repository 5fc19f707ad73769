/**
 * One TCP connection's control block (RFC 9293's TCB) and what a program can ask of it: send
 * bytes, finish sending, abort, read. The state machine lives in two files, as in BSD's
 * tcp_input.c and tcp_output.c: tcp-input.ts runs one arriving segment through it, tcp-output.ts
 * decides what to send now. Both work on the fields here.
 *
 * The variables are RFC 9293's (3.3.1), with snd_max added as in BSD: after a retransmission
 * timeout snd_nxt goes back to snd_una to resend, while snd_max remembers how far we had sent, so
 * an ACK for data sent before the timeout is still understood.
 *
 *        snd_una            snd_nxt       snd_max         snd_una + snd_wnd
 *   ... acked | sent, unacked |   resend   |   may send   | beyond the window
 *
 * Timers, each a LazyTimer: retransmission (RFC 6298), persist (probe a zero window), delayed ACK
 * (40 ms, or at once for every second full segment), and TIME_WAIT (2 MSL).
 */
import { NewReno } from "./tcp-congestion.ts";
import { ReceiveBuffer, SendBuffer } from "./tcp-buffers.ts";
import { RtoEstimator } from "./tcp-rto.ts";
import { RST, type TcpBuild } from "./tcp-segment.ts";
import { LazyTimer } from "./tcp-timer.ts";
import { sendWindowProbe, tcpOutput } from "./tcp-output.ts";
import { TcpError, type TcpState } from "./api.ts";

/** Maximum segment lifetime; TIME_WAIT lasts twice this (Linux: 60 s in all). */
export const MSL_MS = 30_000;
export const DELAYED_ACK_MS = 40;
/** Retransmissions of one segment before the connection is given up (Linux tcp_retries2 is 15). */
export const MAX_RETRANSMITS = 12;
/** SYN (or SYN-ACK) retransmissions before giving up (Linux: tcp_syn_retries 6, synack 5). */
export const MAX_SYN_RETRANSMITS = 6;
/** Default buffer sizes: with window scaling, enough for a few ms of round trip at 10 Gbit/s. */
export const DEFAULT_BUFFER = 1 << 20;
/** The MSS assumed when the peer sends none (RFC 9293 3.7.1). */
export const DEFAULT_MSS = 536;

/** What a connection needs from the stack around it (tcp.ts). */
export interface TcpHost {
  readonly localIp: Uint8Array;
  now(): number;
  setTimer(fn: () => void, ms: number): () => void;
  /**
   * Sends a segment of `c` with header fields `h` and `len` data bytes, which `fill` copies into
   * the frame at `at`. `tsoMss`: the segment is a TSO frame to be cut into segments of that size.
   */
  send(
    c: Connection,
    h: TcpBuild,
    len: number,
    fill?: (dst: Uint8Array, at: number) => void,
    tsoMss?: number,
  ): void;
  count(what: string, n?: number): void;
  drop(why: string, n?: number): void;
  /** `c` reached CLOSED: forget it. */
  release(c: Connection): void;
  /** `c`, opened passively, is ESTABLISHED: hand it to its listener. */
  established(c: Connection): void;
  /** Whether one more challenge ACK fits this second's budget. */
  mayChallenge(): boolean;
}

export interface Endpoints {
  localPort: number;
  remoteIp: Uint8Array;
  remotePort: number;
}

export class Connection {
  state: TcpState;
  readonly localPort: number;
  readonly remoteIp: Uint8Array;
  readonly remotePort: number;
  /** Set for connections a listener made: a reset in SYN_RECEIVED just forgets them. */
  passive = false;

  // ---- send sequence space ----
  iss: number;
  sndUna: number;
  sndNxt: number;
  sndMax: number;
  /** The peer's window in bytes (scaled), and the segment that last set it (RFC 9293 SND.WL1/2). */
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  /** The largest window the peer ever offered: how old an old ACK may be (RFC 5961 5.2). */
  maxSndWnd = 0;
  /** The peer's window scale shift, and ours (0 both unless both SYNs carried the option). */
  sndShift = 0;
  rcvShift: number;
  /** Whether our SYN carries the window scale option (a passive open: only if the peer's did). */
  offerScale = true;
  /** Payload bytes per segment, the smaller of our MTU's and the peer's MSS. */
  mss: number;
  readonly sendBuffer: SendBuffer;
  /** end() was called: a FIN goes after the buffered data. */
  finQueued = false;
  /** Our FIN, once sent, occupies this sequence number. */
  finSeq: number | undefined;

  // ---- receive sequence space ----
  irs = 0;
  rcv!: ReceiveBuffer;
  /** The right edge of the window we last advertised: never moved left (RFC 9293 3.8.6.2.2). */
  rcvAdv = 0;
  /** Full-sized segments received since our last ACK, and whether an ACK is owed. */
  unackedSegments = 0;
  ackNow = false;
  /** Segments still to be ACKed at once after a loss (tcp-input.ts, QUICK_ACKS). */
  quickAcks = 0;
  /** The peer's FIN has been reached and acknowledged: reads end after the buffered bytes. */
  peerFin = false;

  // ---- loss recovery ----
  readonly rto = new RtoEstimator();
  readonly cc: NewReno;
  /** The one segment being timed for an RTT sample (Karn: never a retransmitted one). */
  rttSeq: number | undefined;
  rttStart = 0;
  retransmits = 0;
  readonly rtxTimer: LazyTimer;
  readonly persistTimer: LazyTimer;
  readonly delackTimer: LazyTimer;
  readonly timeWaitTimer: LazyTimer;

  // ---- the program's side ----
  error: TcpError | undefined;
  /** Called when there is something to read, room to write, or the state changed. */
  wake: () => void = () => {};
  private outputQueued = false;

  constructor(
    readonly host: TcpHost,
    ends: Endpoints,
    iss: number,
    state: TcpState,
    readonly mtuMss: number,
    bufferSize = DEFAULT_BUFFER,
  ) {
    this.localPort = ends.localPort;
    this.remoteIp = ends.remoteIp;
    this.remotePort = ends.remotePort;
    this.state = state;
    this.iss = this.sndUna = this.sndNxt = this.sndMax = iss;
    this.mss = Math.min(DEFAULT_MSS, mtuMss);
    this.cc = new NewReno(this.mss);
    this.sendBuffer = new SendBuffer(bufferSize);
    // The smallest shift that lets a 16-bit field describe the whole buffer (RFC 7323 2.3).
    let shift = 0;
    while (bufferSize >> shift > 0xffff && shift < 14) shift++;
    this.rcvShift = shift;
    this.rcv = new ReceiveBuffer(bufferSize, 0);
    this.rtxTimer = new LazyTimer(host, () => this.onRetransmitTimeout());
    this.persistTimer = new LazyTimer(host, () => this.onPersistTimeout());
    this.delackTimer = new LazyTimer(host, () => {
      this.ackNow = true;
      this.output();
    });
    this.timeWaitTimer = new LazyTimer(host, () => this.closed());
  }

  /** Data bytes sent and not yet acknowledged (FIN and SYN not counted). */
  get flight(): number {
    return (this.sndMax - this.sndUna) >>> 0;
  }

  /** Schedules output for the end of this turn, so several writes or ACKs make one segment. */
  output(): void {
    if (this.outputQueued) return;
    this.outputQueued = true;
    queueMicrotask(() => {
      this.outputQueued = false;
      tcpOutput(this);
    });
  }

  // ---- the program's calls ----

  /** Takes as much of `data` as fits the send buffer; returns how many bytes it took. */
  write(data: Uint8Array): number {
    if (this.finQueued || this.error || !canSend(this.state))
      throw this.error ?? new TcpError("EPIPE", "the connection is closed for writing");
    const n = Math.min(data.length, this.sendBuffer.free);
    if (n > 0) {
      this.sendBuffer.push(data.slice(0, n));
      this.output();
    }
    return n;
  }

  /** Queues our FIN after the data written so far. */
  end(): void {
    if (this.finQueued || this.error) return;
    this.finQueued = true;
    if (this.state === "ESTABLISHED" || this.state === "SYN_RECEIVED") this.state = "FIN_WAIT_1";
    else if (this.state === "CLOSE_WAIT") this.state = "LAST_ACK";
    else if (this.state === "SYN_SENT") return this.closed();
    this.output();
  }

  /** Aborts: RST to the peer (unless the connection is not synchronized yet), then CLOSED. */
  abort(why = new TcpError("ECONNRESET", "the connection was destroyed")): void {
    if (this.state === "CLOSED") return;
    if (this.state !== "SYN_SENT" && this.state !== "TIME_WAIT" && this.state !== "LISTEN") {
      this.host.count("tcp.resets-sent");
      this.host.send(
        this,
        {
          srcPort: this.localPort,
          dstPort: this.remotePort,
          seq: this.sndNxt,
          ack: 0,
          flags: RST,
          window: 0,
        },
        0,
      );
    }
    this.fail(why);
  }

  /** The next chunk received (up to `max` bytes), null after the peer's FIN, undefined if none yet. */
  read(max?: number): Uint8Array | null | undefined {
    const chunk = this.rcv.read(max);
    if (chunk) {
      this.maybeWindowUpdate();
      return chunk;
    }
    if (this.error) return undefined; // the socket rejects with it
    return this.peerFin || this.state === "CLOSED" ? null : undefined;
  }

  /**
   * After a read: if the window we could advertise grew by two segments or half the buffer since
   * the last advertisement, tell the peer (receiver-side silly window avoidance, RFC 9293
   * 3.8.6.2.2) — otherwise a peer stopped by a full window would wait for its persist timer.
   */
  private maybeWindowUpdate(): void {
    if (!canReceive(this.state)) return;
    const right = (this.rcv.rcvNxt + this.rcv.window) >>> 0;
    const growth = (right - this.rcvAdv) | 0;
    if (growth >= Math.min(2 * this.mss, this.rcv.capacity / 2)) {
      this.ackNow = true;
      this.output();
    }
  }

  // ---- timers ----

  private onRetransmitTimeout(): void {
    if (this.state === "CLOSED" || this.state === "TIME_WAIT") return;
    const limit =
      this.state === "SYN_SENT" || this.state === "SYN_RECEIVED" ? MAX_SYN_RETRANSMITS : MAX_RETRANSMITS;
    if (++this.retransmits > limit)
      return this.fail(new TcpError("ETIMEDOUT", `no answer from the peer after ${limit} retransmissions`));
    this.host.count("tcp.retransmit-timeouts");
    this.rto.timedOut();
    this.cc.onTimeout(this.flight);
    // Go back to the first unacknowledged byte and send again from there (Karn: no RTT sample).
    this.rttSeq = undefined;
    this.sndNxt = this.sndUna;
    tcpOutput(this);
  }

  private onPersistTimeout(): void {
    if (this.sndWnd > 0 || !canSend(this.state)) return;
    this.host.count("tcp.window-probes");
    this.rto.timedOut();
    sendWindowProbe(this);
    this.persistTimer.set(this.rto.rtoMs);
  }

  // ---- endings ----

  /** TIME_WAIT: 2 MSL of answering retransmitted FINs, so a lost last ACK does not reset the peer. */
  enterTimeWait(): void {
    this.state = "TIME_WAIT";
    this.rtxTimer.stop();
    this.persistTimer.stop();
    this.delackTimer.stop();
    this.timeWaitTimer.set(2 * MSL_MS);
    this.wake();
  }

  /**
   * The first sequence numbers from the peer's SYN: receive space starts after it, and the
   * options it carried fix the MSS and window scaling for the connection's life.
   */
  synchronize(seq: number, mss: number | undefined, wscale: number | undefined): void {
    this.irs = seq;
    this.rcv = new ReceiveBuffer(this.rcv.capacity, (seq + 1) >>> 0);
    this.rcvAdv = this.rcv.rcvNxt;
    this.mss = Math.min(this.mtuMss, mss ?? DEFAULT_MSS);
    this.cc.setMss(this.mss);
    if (wscale !== undefined && this.offerScale) this.sndShift = Math.min(wscale, 14);
    else {
      // Scaling is on only when both SYNs carry the option (RFC 7323 1.3).
      this.offerScale = false;
      this.rcvShift = 0;
    }
  }

  /** Gone with an error: pending reads and writes fail with it. */
  fail(e: TcpError): void {
    this.error ??= e;
    this.closed();
  }

  /** CLOSED: timers stopped, the stack forgets the connection, the program is told. */
  closed(): void {
    if (this.state === "CLOSED") return;
    this.state = "CLOSED";
    for (const t of [this.rtxTimer, this.persistTimer, this.delackTimer, this.timeWaitTimer]) t.stop();
    this.host.release(this);
    this.wake();
  }
}

/** States in which we may still send data. */
export const canSend = (s: TcpState): boolean =>
  s === "ESTABLISHED" || s === "CLOSE_WAIT" || s === "SYN_SENT" || s === "SYN_RECEIVED";

/** States in which the peer may still send data. */
export const canReceive = (s: TcpState): boolean =>
  s === "ESTABLISHED" || s === "FIN_WAIT_1" || s === "FIN_WAIT_2" || s === "SYN_RECEIVED";
