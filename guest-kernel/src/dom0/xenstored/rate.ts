/**
 * The write rate limit, as C xenstored keeps it (its `wrl_*`): a guest that writes while
 * transactions are open could keep them failing with EAGAIN forever, so while any transaction is
 * open every node a guest writes costs it one unit of credit. Credit refills at 200 units a second
 * shared among the domains, up to a burst of 10 each; what a domain does not use goes to a common
 * reserve (up to 1000) that domains in debt draw on. A domain in debt is not read from until its
 * credit is back: its requests wait in its own ring. dom0 and sockets are never limited.
 *
 * Credit is counted in thousandths, as Xen's fixed-point WRL_FACTOR.
 */
const FACTOR = 1000;
const WRITE_COST = FACTOR;
const RATE = 200 * FACTOR;
const DOMAIN_BURST = 10 * FACTOR;
const GLOBAL_BURST = 1000 * FACTOR;
const NEW_DOMAINS_BURST = 10 * 5 * FACTOR;
const CREDIT_MAX = 1_000_000_000;

interface Account {
  credit: number;
  /** performance.now() when the credit was last brought up to date. */
  stamp: number;
}

export class WriteRateLimit {
  private readonly accounts = new Map<number, Account>();
  private reserve = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** A domain appears: it starts with what it can take of the reserve, up to one burst. */
  domainNew(domid: number): void {
    if (domid === 0 || this.accounts.has(domid)) return;
    const a = { credit: 0, stamp: this.now() };
    this.accounts.set(domid, a);
    const xfer = Math.min(this.reserve + NEW_DOMAINS_BURST, DOMAIN_BURST - a.credit);
    if (xfer > 0) {
      this.reserve -= xfer;
      a.credit += xfer;
    }
  }

  /** A domain is gone: its credit (up to a burst) returns to the reserve. */
  domainGone(domid: number): void {
    const a = this.accounts.get(domid);
    if (!a) return;
    this.accounts.delete(domid);
    const xfer = Math.min(a.credit, DOMAIN_BURST - this.reserve);
    if (xfer > 0) this.reserve += xfer;
  }

  /** Charges `writes` node writes to `domid` (a no-op for dom0 and unknown domains). */
  debit(domid: number, writes = 1): void {
    const a = this.accounts.get(domid);
    if (!a || writes <= 0) return;
    this.update(a);
    a.credit -= writes * WRITE_COST;
  }

  /** 0 when `domid` may be read from; else how many ms until its credit is back. */
  blockedFor(domid: number): number {
    const a = this.accounts.get(domid);
    if (!a) return 0;
    this.update(a);
    if (a.credit >= 0) return 0;
    return Math.ceil((-a.credit * 1000 * this.domains()) / RATE);
  }

  /** The domains sharing the rate: every limited one, and dom0 (Xen counts it too). */
  private domains(): number {
    return this.accounts.size + 1;
  }

  /** Adds the credit earned since the last update, then balances with the reserve (wrl_credit_update). */
  private update(a: Account): void {
    const now = this.now();
    const msec = Math.max(0, Math.floor(now - a.stamp));
    a.credit = Math.min(a.credit + Math.floor((msec * RATE) / (this.domains() * 1000)), CREDIT_MAX);
    // In debt: take from the reserve what it has.
    if (a.credit < 0 && this.reserve > 0) {
      const xfer = Math.min(this.reserve, -a.credit);
      this.reserve -= xfer;
      a.credit += xfer;
    }
    // Over a burst: the surplus tops up the reserve; the rest is lost.
    if (a.credit > DOMAIN_BURST) {
      const surplus = a.credit - DOMAIN_BURST;
      a.credit = DOMAIN_BURST;
      this.reserve = Math.min(this.reserve + surplus, Math.max(this.reserve, GLOBAL_BURST));
    }
    a.stamp += msec;
  }
}
