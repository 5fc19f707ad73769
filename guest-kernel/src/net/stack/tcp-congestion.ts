/**
 * Congestion control: NewReno (RFC 5681 for slow start, congestion avoidance and fast
 * retransmit; RFC 6582 for recovering from several losses in one window without SACK).
 *
 *  - cwnd starts at 10 segments (RFC 6928) and grows by the bytes each ACK acknowledges while
 *    below ssthresh (slow start; RFC 3465's byte counting without its per-ACK limit, see
 *    onNewAck); above it, by about one segment per round trip (congestion avoidance).
 *  - Three duplicate ACKs mean a segment was lost but later ones arrived: retransmit it at once
 *    (fast retransmit), halve the window (ssthresh = flight / 2) and stay in fast recovery until
 *    everything sent before the loss is acknowledged. A partial ACK in recovery means the next
 *    hole is lost too: retransmit it without waiting for three more duplicates.
 *  - A retransmission timeout means the ACK clock stopped: ssthresh = flight / 2, cwnd = one
 *    segment, start over with slow start.
 *
 * This class decides sizes only; the connection does the sending and tells it what happened.
 */
import { seqGe } from "./tcp-seq.ts";

export const INITIAL_WINDOW_SEGMENTS = 10;
const DUPACK_THRESHOLD = 3;

export class NewReno {
  cwnd: number;
  ssthresh = Number.MAX_SAFE_INTEGER;
  private dupAcks = 0;
  /** snd_nxt when recovery began; recovery ends when that is acknowledged. */
  private recover: number | undefined;
  /** Bytes acknowledged in congestion avoidance since cwnd last grew. */
  private acked = 0;

  constructor(private mss: number) {
    this.cwnd = INITIAL_WINDOW_SEGMENTS * mss;
  }

  get inRecovery(): boolean {
    return this.recover !== undefined;
  }

  /** The peer's MSS became known (on the SYN): the initial window follows it. */
  setMss(mss: number): void {
    this.mss = mss;
    this.cwnd = INITIAL_WINDOW_SEGMENTS * mss;
  }

  /**
   * An ACK that acknowledged `bytes` new bytes, up to `ack`. Returns true when it is a partial ACK
   * in recovery: the caller retransmits the first unacknowledged segment.
   */
  onNewAck(bytes: number, ack: number, flight: number): boolean {
    this.dupAcks = 0;
    if (this.recover !== undefined) {
      if (seqGe(ack, this.recover)) {
        // Full ACK: recovery is over; deflate to ssthresh (RFC 6582 3.2 step 3, option 2, as
        // Linux does). Option 1 bounds it by the flight, which the full ACK has just emptied: the
        // window would fall to one segment after every loss.
        this.recover = undefined;
        this.cwnd = this.ssthresh;
        return false;
      }
      // Partial ACK: deflate by what was acknowledged, add back one segment (RFC 6582 3.2 step 3).
      this.cwnd = Math.max(this.mss, this.cwnd - bytes + this.mss);
      return true;
    }
    // Slow start grows by all the bytes acknowledged, up to ssthresh, not RFC 3465's "at most two
    // segments per ACK": our peers' ACKs are stretch ACKs by design (one per batch of segments an
    // event delivers, one per large receive), and L = 2 would make slow start nearly linear.
    // Linux dropped the limit for the same reason.
    if (this.cwnd < this.ssthresh)
      this.cwnd = Math.min(this.cwnd + bytes, Math.max(this.ssthresh, this.cwnd));
    else {
      this.acked += bytes;
      if (this.acked >= this.cwnd) {
        this.acked -= this.cwnd;
        this.cwnd += this.mss;
      }
    }
    return false;
  }

  /**
   * A duplicate ACK while data is outstanding. Returns true on the third: the caller retransmits
   * the first unacknowledged segment (fast retransmit).
   */
  onDupAck(flight: number, sndNxt: number): boolean {
    if (this.recover !== undefined) {
      this.cwnd += this.mss; // each duplicate means a segment left the network (inflation)
      return false;
    }
    if (++this.dupAcks !== DUPACK_THRESHOLD) return false;
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    this.cwnd = this.ssthresh + DUPACK_THRESHOLD * this.mss;
    this.recover = sndNxt;
    return true;
  }

  /** The retransmission timer expired. */
  onTimeout(flight: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.dupAcks = 0;
    this.recover = undefined;
    this.acked = 0;
  }
}
