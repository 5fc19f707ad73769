/**
 * What a connection sends, decided from its state each time something changed (BSD's
 * tcp_output): the SYN or SYN-ACK, new data as far as the peer's window and the congestion window
 * allow, our FIN after the last byte, and an ACK when one is owed and no data segment carries it.
 *
 * Large writes go out as TSO frames: up to 64 KiB of payload in one frame with one header, which
 * dom0 cuts into MSS-sized segments with their own checksums (drivers/src/net/offload.ts). One
 * frame crosses the ring instead of forty-four.
 *
 * Senders avoid silly windows (RFC 9293 3.8.6.2.1): a segment smaller than the MSS goes out only
 * when it is all there is to send or nothing is in flight. Nagle's algorithm is off (as with
 * TCP_NODELAY, Node's default for http): writes made in one turn of the event loop are sent
 * together at its end instead (Connection.output queues a microtask), which gives the batching
 * without Nagle's wait for an ACK.
 */
import type { Connection } from "./tcp-connection.ts";
import { ACK, FIN, PSH, SYN } from "./tcp-segment.ts";
import { seqAdd, seqGe, seqLt, seqMax } from "./tcp-seq.ts";

/** A TSO frame holds at most 64 KiB: Ethernet, IPv4 and TCP headers and the payload. */
const TSO_MAX_FRAME = 65536;
const HEADERS = 14 + 20 + 20;

/** The window field to send now, and the right edge it advertises (never moved left). */
function advertise(c: Connection, syn: boolean): number {
  const nxt = c.rcv.rcvNxt;
  let wnd = c.rcv.window;
  const edge = (c.rcvAdv - nxt) | 0; // what we advertised last, from here
  // Receiver SWS avoidance: offer more only in steps of a segment or half the buffer.
  if (wnd - edge < Math.min(c.mss, c.rcv.capacity / 2)) wnd = Math.max(edge, 0);
  if (syn) return Math.min(wnd, 0xffff); // a SYN's window is never scaled (RFC 7323 2.2)
  const field = Math.min(wnd >>> c.rcvShift, 0xffff);
  const right = seqAdd(nxt, field << c.rcvShift);
  if (seqLt(c.rcvAdv, right)) c.rcvAdv = right;
  return field;
}

function sendAck(c: Connection, seq = c.sndNxt): void {
  c.host.send(c, header(c, seq, ACK), 0);
  ackSent(c);
}

function header(c: Connection, seq: number, flags: number) {
  return {
    srcPort: c.localPort,
    dstPort: c.remotePort,
    seq,
    ack: flags & ACK ? c.rcv.rcvNxt : 0,
    flags,
    window: advertise(c, (flags & SYN) !== 0),
  };
}

function ackSent(c: Connection): void {
  c.ackNow = false;
  c.unackedSegments = 0;
  c.delackTimer.clear();
}

/** Our SYN (active open) or SYN-ACK (passive), with the MSS and window scale options. */
function sendSyn(c: Connection): void {
  const flags = c.state === "SYN_SENT" ? SYN : SYN | ACK;
  const h = { ...header(c, c.iss, flags), mss: c.mtuMss, wscale: c.offerScale ? c.rcvShift : undefined };
  c.host.send(c, h, 0);
  // The handshake's round trip is the first RTT sample (synSentInput takes it unless the SYN was
  // sent again); without this start it would be measured from the clock's zero, seconds long.
  c.rttStart = c.host.now();
  c.sndNxt = seqAdd(c.iss, 1);
  c.sndMax = seqMax(c.sndMax, c.sndNxt);
  if (flags & ACK) ackSent(c);
  c.rtxTimer.ensure(c.rto.rtoMs);
}

export function tcpOutput(c: Connection): void {
  if (c.state === "CLOSED" || c.state === "LISTEN" || c.state === "TIME_WAIT") {
    if (c.state === "TIME_WAIT" && c.ackNow) sendAck(c);
    return;
  }
  if (c.state === "SYN_SENT" || c.state === "SYN_RECEIVED") {
    if (c.sndNxt === c.iss) sendSyn(c);
    else if (c.ackNow) sendAck(c);
    return;
  }
  const maxPayload = Math.max(c.mss, Math.floor((TSO_MAX_FRAME - HEADERS) / c.mss) * c.mss);
  for (;;) {
    const sent = (c.sndNxt - c.sndUna) >>> 0; // bytes of the buffer sent (FIN counted when sent)
    const unsent = Math.max(0, c.sendBuffer.length - sent);
    const finPending = c.finQueued && !(c.finSeq !== undefined && seqGe(c.sndNxt, seqAdd(c.finSeq, 1)));
    const usable = Math.min(c.sndWnd, c.cc.cwnd) - sent;
    const len = Math.min(unsent, Math.max(0, usable), maxPayload);
    const fin = finPending && len === unsent;
    if (len === 0 && !fin) {
      // Data waits for a window: if the peer's is zero and nothing is in flight to bring an ACK,
      // the persist timer will ask (RFC 9293 3.8.6.1).
      if (unsent > 0 && c.sndWnd === 0 && sent === 0) c.persistTimer.ensure(c.rto.rtoMs);
      break;
    }
    if (len < c.mss && len < unsent && sent > 0) break; // wait: a full segment will fit soon
    const seq = c.sndNxt;
    const flags = ACK | (len > 0 && len === unsent ? PSH : 0) | (fin ? FIN : 0);
    const offset = sent;
    c.host.send(
      c,
      header(c, seq, flags),
      len,
      (dst, at) => c.sendBuffer.copyTo(offset, len, dst, at),
      len > c.mss ? c.mss : undefined,
    );
    c.host.count("tcp.segments-out", len > c.mss ? Math.ceil(len / c.mss) : 1);
    ackSent(c);
    if (c.rttSeq === undefined && len > 0 && seqGe(seq, c.sndMax)) {
      c.rttSeq = seq; // time this one (Karn: only data never sent before)
      c.rttStart = c.host.now();
    } else if (seqLt(seq, c.sndMax)) c.host.count("tcp.retransmitted-segments");
    c.persistTimer.clear();
    c.sndNxt = seqAdd(seq, len + (fin ? 1 : 0));
    if (fin) c.finSeq = seqAdd(seq, len);
    c.sndMax = seqMax(c.sndMax, c.sndNxt);
    c.rtxTimer.ensure(c.rto.rtoMs);
    if (fin) break;
  }
  if (c.ackNow) sendAck(c);
}

/**
 * Fast retransmit (and NewReno's partial ACKs): the first unacknowledged segment again, now,
 * without moving snd_nxt.
 */
export function retransmitFirst(c: Connection): void {
  const len = Math.min(c.mss, c.sendBuffer.length);
  const fin = c.finSeq !== undefined && len === c.sendBuffer.length && seqGe(seqAdd(c.sndUna, len), c.finSeq);
  if (len === 0 && !fin) return;
  c.host.count("tcp.fast-retransmits");
  c.host.send(c, header(c, c.sndUna, ACK | (fin ? FIN : 0)), len, (dst, at) =>
    c.sendBuffer.copyTo(0, len, dst, at),
  );
  ackSent(c);
  if (c.rttSeq !== undefined && seqGe(c.rttSeq, c.sndUna)) c.rttSeq = undefined; // Karn
  c.rtxTimer.set(c.rto.rtoMs);
}

/**
 * A zero-window probe in Linux's style: an ACK carrying the sequence number just before snd_una.
 * The peer finds it outside its window and must answer with an ACK (RFC 9293 3.10.7.4), which
 * carries its current window.
 */
export function sendWindowProbe(c: Connection): void {
  c.host.send(c, header(c, seqAdd(c.sndUna, -1), ACK), 0);
}

/** An ACK now, whatever is queued (an out-of-window segment, a duplicate, a challenge). */
export function sendAckNow(c: Connection): void {
  sendAck(c);
}
