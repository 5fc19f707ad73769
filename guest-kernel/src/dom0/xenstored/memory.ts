/**
 * What each domain's use of xenstored costs, as C xenstored charges it: the records of the nodes it
 * owns (counted by the tree), plus its watches (path and token) and the messages queued towards it
 * (header and payload). An unprivileged domain may not reach the hard memory quota: the write is
 * ENOMEM, the watch ENOMEM, a reply longer than an error string becomes ENOMEM, a watch event is
 * dropped. Crossing the soft quota is logged, once each way.
 */
import type { QuotaLimits } from "./quota.ts";
import type { Tree } from "./tree.ts";

/** How much memory is charged, and to whom: what a connection or the watch table needs. */
export interface MemoryAccount {
  /**
   * Charges `bytes` to `domid`. With `check`, refuses (false, nothing charged) when an unprivileged
   * domain would reach its hard quota.
   */
  charge(domid: number, bytes: number, check: boolean): boolean;
  release(domid: number, bytes: number): void;
}

export class StoreMemory implements MemoryAccount {
  /** Bytes charged besides node records: watches and queued messages. */
  private readonly extra = new Map<number, number>();
  private readonly overSoft = new Set<number>();

  constructor(
    private readonly tree: Tree,
    private readonly quota: Readonly<QuotaLimits>,
    private readonly log: (line: string) => void,
  ) {}

  /** Everything `domid` uses. */
  of(domid: number): number {
    return this.tree.memory(domid) + this.extraOf(domid);
  }

  /** What `domid` uses besides its nodes. */
  extraOf(domid: number): number {
    return this.extra.get(domid) ?? 0;
  }

  charge(domid: number, bytes: number, check: boolean): boolean {
    if (check && domid !== 0 && this.of(domid) + bytes >= this.quota.memoryPerDomain) return false;
    this.extra.set(domid, this.extraOf(domid) + bytes);
    return true;
  }

  release(domid: number, bytes: number): void {
    const left = this.extraOf(domid) - bytes;
    if (left > 0) this.extra.set(domid, left);
    else this.extra.delete(domid);
  }

  /** Logs `domid` crossing the soft quota, up or down (domain_chk_quota's warnings). */
  noteSoft(domid: number): void {
    if (domid === 0) return;
    const over = this.of(domid) >= this.quota.memoryPerDomainSoft;
    if (over === this.overSoft.has(domid)) return;
    if (over) this.overSoft.add(domid);
    else this.overSoft.delete(domid);
    this.log(`xenstored: domain ${domid} ${over ? "exceeds" : "is below"} its soft memory quota`);
  }

  /** The domain is gone: nothing is charged to it any more. */
  forget(domid: number): void {
    this.extra.delete(domid);
    this.overSoft.delete(domid);
  }
}
