/**
 * The retransmission timeout (RFC 6298). Each round-trip sample R updates a smoothed mean and a
 * mean deviation:
 *
 *    first sample:  SRTT = R, RTTVAR = R/2
 *    afterwards:    RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|,  SRTT = 7/8 SRTT + 1/8 R
 *    RTO = SRTT + max(G, 4 RTTVAR)
 *
 * clamped to [MIN_RTO, MAX_RTO]. RFC 6298 asks for a 1 s floor; we take Linux's 200 ms, which
 * suits a switch whose round trips are well under a millisecond and still leaves the delayed ACK
 * (40 ms) far inside it. Before any sample the RTO is 1 s (RFC 6298 2.1). Each timeout doubles it
 * (exponential backoff, 5.5) until a new sample arrives; Karn's rule — never sample a segment that
 * was retransmitted, its ACK is ambiguous — is the caller's (it times one segment at a time).
 */

export const INITIAL_RTO_MS = 1000;
export const MIN_RTO_MS = 200;
export const MAX_RTO_MS = 60_000;
/** The clock's granularity G: the kernel's clock reads milliseconds. */
const GRANULARITY_MS = 1;

export class RtoEstimator {
  private srtt: number | undefined;
  private rttvar = 0;
  private backoff = 0;

  /** The timeout to arm now, backoff included. */
  get rtoMs(): number {
    const base =
      this.srtt === undefined ? INITIAL_RTO_MS : this.srtt + Math.max(GRANULARITY_MS, 4 * this.rttvar);
    return Math.min(MAX_RTO_MS, Math.max(MIN_RTO_MS, base) * 2 ** this.backoff);
  }

  /** The smoothed round-trip time, undefined before the first sample. */
  get srttMs(): number | undefined {
    return this.srtt;
  }

  sample(rttMs: number): void {
    const r = Math.max(0, rttMs);
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.backoff = 0;
  }

  /** A retransmission timer expired: the next timeout is twice as long (until MAX_RTO). */
  timedOut(): void {
    if (this.rtoMs < MAX_RTO_MS) this.backoff++;
  }
}
