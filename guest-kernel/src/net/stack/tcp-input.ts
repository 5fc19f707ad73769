/**
 * One arriving segment run through a connection's state machine, in RFC 9293 3.10.7.4's order:
 * is it inside the window; a reset; a SYN; the acknowledgment; the data; the FIN. Each check drops
 * what it refuses and counts why, and answers the way the RFC says (an ACK for a segment outside
 * the window, a challenge ACK for a reset or SYN that is not exactly where we expect it, per
 * RFC 5961, so a blind attacker cannot guess its way into killing a connection).
 *
 * A segment for no connection, or for a listener, is tcp.ts's.
 */
import { TcpError } from "./api.ts";
import { DELAYED_ACK_MS, canReceive, type Connection } from "./tcp-connection.ts";
import { retransmitFirst, sendAckNow } from "./tcp-output.ts";
import { ACK, FIN, RST, SYN, segmentLength, type TcpSegment } from "./tcp-segment.ts";
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from "./tcp-seq.ts";

/**
 * After a loss, the next segments are ACKed at once instead of every second one (Linux's quick
 * ACK mode): the sender's window has just been cut, perhaps to one segment, and a delayed ACK
 * would hold that one segment's answer for 40 ms.
 */
const QUICK_ACKS = 16;

export function tcpInput(c: Connection, seg: TcpSegment): void {
  if (c.state === "CLOSED") return;
  if (c.state === "SYN_SENT") return synSentInput(c, seg);
  if (
    c.state === "SYN_RECEIVED" &&
    c.passive &&
    (seg.flags & (SYN | ACK | RST | FIN)) === SYN &&
    seg.seq === c.irs
  )
    return synAgain(c);
  if (!acceptable(c, seg)) {
    c.host.drop("tcp.out-of-window");
    if (!(seg.flags & RST)) challengeAck(c);
    return;
  }
  if (seg.flags & RST) return resetInput(c, seg);
  if (seg.flags & SYN) {
    c.host.drop("tcp.syn-in-window");
    return challengeAck(c); // RFC 5961 4.2
  }
  if (!(seg.flags & ACK)) return c.host.drop("tcp.no-ack");
  if (!ackInput(c, seg)) return;
  dataInput(c, seg);
  finInput(c, seg);
  c.output();
}

/**
 * The peer's SYN again, exactly the one we answered (our SYN-ACK was lost, or the peer's first SYN
 * and its retransmission both waited for ARP and arrived together): answer with the SYN-ACK again,
 * as Linux does. It must come before the window check, which would refuse the SYN — it lies just
 * before rcvNxt — and send a challenge ACK: a bare ACK at our ISS, ahead of the SYN-ACK that is
 * still queued for the end of this turn when both SYNs come in one. Rate-limited like a challenge
 * ACK, so a peer repeating its SYN cannot make us repeat ours without bound.
 */
function synAgain(c: Connection): void {
  c.host.count("tcp.syn-repeated");
  if (!c.host.mayChallenge()) return c.host.drop("tcp.challenge-acks-rate-limited");
  c.sndNxt = c.iss;
  c.output(); // queued: one SYN-ACK however many copies of the SYN came in this turn
}

/**
 * An ACK in answer to a segment we refused (outside the window, a blind RST or SYN): what the RFCs
 * ask, but rate-limited across the stack (RFC 5961 7; Linux's tcp_challenge_ack_limit), or an
 * attacker spraying forged segments would make us spray ACKs at the real peer.
 */
function challengeAck(c: Connection): void {
  if (c.host.mayChallenge()) sendAckNow(c);
  else c.host.drop("tcp.challenge-acks-rate-limited");
}

/** RFC 9293's four cases: does any of the segment fall inside the receive window? */
function acceptable(c: Connection, seg: TcpSegment): boolean {
  const nxt = c.rcv.rcvNxt;
  const wnd = Math.max(0, seqDiff(c.rcvAdv, nxt), c.rcv.window);
  const len = segmentLength(seg);
  if (wnd === 0) {
    if (seg.seq !== nxt) return false;
    // A zero window takes no data, but the ACK, RST and window it carries still count.
    if (len > 0) seg.data = seg.data.subarray(0, 0);
    seg.flags &= ~FIN;
    return true;
  }
  const end = seqAdd(nxt, wnd);
  const startsInside = seqGe(seg.seq, nxt) && seqLt(seg.seq, end);
  if (len === 0) return startsInside;
  const last = seqAdd(seg.seq, len - 1);
  return startsInside || (seqGe(last, nxt) && seqLt(last, end));
}

function resetInput(c: Connection, seg: TcpSegment): void {
  if (seg.seq !== c.rcv.rcvNxt) {
    c.host.drop("tcp.rst-not-exact");
    return challengeAck(c); // a real peer answers it with an exact RST
  }
  c.host.count("tcp.resets-received");
  if (c.state === "SYN_RECEIVED" && c.passive) return c.closed(); // back to the listener's care
  if (c.state === "TIME_WAIT" || c.state === "LAST_ACK" || c.state === "CLOSING") return c.closed();
  c.fail(new TcpError("ECONNRESET", "the peer reset the connection"));
}

/** The acknowledgment field. Returns false when the segment is to be dropped. */
function ackInput(c: Connection, seg: TcpSegment): boolean {
  if (c.state === "SYN_RECEIVED") {
    if (!(seqLt(c.sndUna, seg.ack) && seqLe(seg.ack, c.sndMax))) {
      c.host.drop("tcp.bad-ack");
      sendReset(c, seg.ack);
      return false;
    }
    c.state = "ESTABLISHED";
    c.sndWnd = seg.window << c.sndShift;
    c.sndWl1 = seg.seq;
    c.sndWl2 = seg.ack;
    c.host.established(c);
  }
  if (seqGt(seg.ack, c.sndMax)) {
    c.host.drop("tcp.ack-unsent");
    sendAckNow(c);
    return false;
  }
  if (seqLt(seg.ack, seqAdd(c.sndUna, -Math.max(c.maxSndWnd, 1)))) {
    c.host.drop("tcp.ack-too-old");
    sendAckNow(c);
    return false;
  }
  const window = seg.window << c.sndShift;
  if (seqGt(seg.ack, c.sndUna)) newAck(c, seg.ack);
  else if (
    seg.ack === c.sndUna &&
    seg.data.length === 0 &&
    !(seg.flags & FIN) &&
    window === c.sndWnd &&
    c.sndMax !== c.sndUna
  ) {
    c.host.count("tcp.dup-acks");
    if (c.cc.onDupAck(c.flight, c.sndMax)) retransmitFirst(c);
  }
  // The window, from the newest segment only (RFC 9293 3.10.7.4, SND.WL1 and SND.WL2).
  if (seqLt(c.sndWl1, seg.seq) || (c.sndWl1 === seg.seq && seqLe(c.sndWl2, seg.ack))) {
    if (window > c.sndWnd) c.wake();
    c.sndWnd = window;
    c.sndWl1 = seg.seq;
    c.sndWl2 = seg.ack;
    c.maxSndWnd = Math.max(c.maxSndWnd, window);
    if (window > 0) c.persistTimer.clear();
  }
  const finAcked = c.finSeq !== undefined && seqGt(c.sndUna, c.finSeq);
  if (c.state === "FIN_WAIT_1" && finAcked) c.state = "FIN_WAIT_2";
  else if (c.state === "CLOSING" && finAcked) {
    c.enterTimeWait();
    return false;
  } else if (c.state === "LAST_ACK" && finAcked) {
    c.closed();
    return false;
  } else if (c.state === "TIME_WAIT" && seg.flags & FIN) {
    c.ackNow = true; // the peer did not get our last ACK: again, and wait 2 MSL more
    c.enterTimeWait();
  }
  return true;
}

/** snd_una moves up to `ack`: free the acknowledged bytes, sample the RTT, grow the window. */
function newAck(c: Connection, ack: number): void {
  const acked = seqDiff(ack, c.sndUna);
  let data = acked;
  if (c.sndUna === c.iss) data--; // our SYN's sequence number
  if (c.finSeq !== undefined && seqGt(ack, c.finSeq)) data--; // our FIN's
  c.sendBuffer.drop(Math.max(0, data));
  c.sndUna = ack;
  if (seqLt(c.sndNxt, ack)) c.sndNxt = ack;
  if (c.rttSeq !== undefined && seqGt(ack, c.rttSeq)) {
    c.rto.sample(c.host.now() - c.rttStart);
    c.rttSeq = undefined;
  }
  c.retransmits = 0;
  if (c.cc.onNewAck(Math.max(0, data), ack, c.flight)) retransmitFirst(c);
  if (c.sndUna === c.sndMax) c.rtxTimer.clear();
  else c.rtxTimer.set(c.rto.rtoMs);
  c.host.count("tcp.bytes-acked", Math.max(0, data));
  c.wake(); // room in the send buffer
}

function dataInput(c: Connection, seg: TcpSegment): void {
  if (seg.data.length === 0) return;
  if (!canReceive(c.state)) return c.host.drop("tcp.data-after-fin");
  let seq = seg.seq;
  let data = seg.data;
  const nxt = c.rcv.rcvNxt;
  if (seg.flags & SYN) seq = seqAdd(seq, 1);
  const old = seqDiff(nxt, seq);
  if (old > 0) {
    // Bytes we have already: a retransmission that overlaps. Keep the new part.
    data = data.subarray(Math.min(old, data.length));
    seq = nxt;
    c.host.count("tcp.duplicate-bytes", Math.min(old, seg.data.length));
  }
  const room = Math.max(seqDiff(c.rcvAdv, seq), seqDiff(seqAdd(nxt, c.rcv.window), seq));
  if (data.length > room) {
    c.host.drop("tcp.beyond-window");
    data = data.subarray(0, Math.max(0, room));
  }
  if (data.length === 0) {
    c.ackNow = true;
    return;
  }
  const hadHoles = c.rcv.heldSegments > 0;
  const advanced = c.rcv.accept(seq, data);
  c.host.count("tcp.bytes-in", data.length);
  if (advanced === 0) {
    // Out of order: a duplicate ACK at once, one per segment (not one per batch, as other ACKs
    // are), so the sender counts three and retransmits the hole without waiting for its timer.
    c.host.count("tcp.out-of-order");
    c.quickAcks = QUICK_ACKS;
    sendAckNow(c);
    return;
  }
  // Delayed ACK (RFC 9293 3.8.6.3): at least every second full segment, else within 40 ms; at
  // once for a while after a hole (QUICK_ACKS), so the sender's recovery ends promptly.
  c.unackedSegments += Math.max(1, Math.floor(advanced / c.mss));
  if (hadHoles) c.quickAcks = QUICK_ACKS;
  if (c.quickAcks > 0 || c.unackedSegments >= 2) {
    c.ackNow = true;
    if (c.quickAcks > 0) c.quickAcks--;
  } else c.delackTimer.ensure(DELAYED_ACK_MS);
  c.wake();
}

function finInput(c: Connection, seg: TcpSegment): void {
  if (seg.flags & FIN && c.rcv.finSeq === undefined && canReceive(c.state)) {
    c.rcv.finSeq = seqAdd(seg.seq, seg.data.length + (seg.flags & SYN ? 1 : 0));
  }
  if (c.peerFin || c.rcv.finSeq === undefined || c.rcv.rcvNxt !== c.rcv.finSeq) return;
  c.peerFin = true;
  c.rcv.rcvNxt = seqAdd(c.rcv.rcvNxt, 1);
  c.rcvAdv = seqMax(c.rcvAdv, c.rcv.rcvNxt);
  c.ackNow = true;
  const finAcked = c.finSeq !== undefined && seqGt(c.sndUna, c.finSeq);
  if (c.state === "ESTABLISHED" || c.state === "SYN_RECEIVED") c.state = "CLOSE_WAIT";
  else if (c.state === "FIN_WAIT_1") {
    if (finAcked) c.enterTimeWait();
    else c.state = "CLOSING";
  } else if (c.state === "FIN_WAIT_2") c.enterTimeWait();
  c.wake();
}

/** A reset for a segment whose ACK makes no sense here: <SEQ=SEG.ACK><CTL=RST>. */
function sendReset(c: Connection, seq: number): void {
  c.host.count("tcp.resets-sent");
  c.host.send(c, { srcPort: c.localPort, dstPort: c.remotePort, seq, ack: 0, flags: RST, window: 0 }, 0);
}

/** SYN_SENT: waiting for the SYN-ACK (RFC 9293 3.10.7.3). */
function synSentInput(c: Connection, seg: TcpSegment): void {
  const hasAck = (seg.flags & ACK) !== 0;
  if (hasAck && (seqLe(seg.ack, c.iss) || seqGt(seg.ack, c.sndMax))) {
    c.host.drop("tcp.bad-ack");
    if (!(seg.flags & RST)) sendReset(c, seg.ack);
    return;
  }
  if (seg.flags & RST) {
    if (!hasAck) return c.host.drop("tcp.rst-without-ack");
    return c.fail(new TcpError("ECONNREFUSED", "the peer refused the connection"));
  }
  if (!(seg.flags & SYN)) return c.host.drop("tcp.no-syn");
  c.synchronize(seg.seq, seg.mss, seg.wscale);
  if (!hasAck) {
    // Both ends opened at once (simultaneous open): answer with a SYN-ACK.
    c.state = "SYN_RECEIVED";
    c.sndNxt = c.iss;
    c.output();
    return;
  }
  c.sndUna = seg.ack;
  c.sndWnd = seg.window; // a SYN's window is never scaled
  c.maxSndWnd = c.sndWnd;
  c.sndWl1 = seg.seq;
  c.sndWl2 = seg.ack;
  if (c.rttSeq === undefined && c.retransmits === 0) c.rto.sample(c.host.now() - c.rttStart);
  c.retransmits = 0;
  c.rtxTimer.clear();
  c.state = "ESTABLISHED";
  c.ackNow = true;
  dataInput(c, seg);
  finInput(c, seg);
  c.output();
  c.wake();
}
