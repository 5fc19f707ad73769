/**
 * The domains xenstored knows of, and since when. C xenstored keeps a record for every domain that
 * is introduced or named in a permission list while it exists, stamped with the store's generation
 * at that moment, and drops it when the domain goes away. The stamp is what keeps a domain id from
 * inheriting rights: a permission entry for domain D counts on a node only if D's record is older
 * than the node's last write, so a new domain that reuses a dead one's id is not granted what the
 * dead one was (domain_adjust_node_perms in Xen).
 */
import type { Perm, Perms } from "./perms.ts";

/** What xenstored asks its host: does this domain exist on the hypervisor (running or not)? */
export type DomainExists = (domid: number) => boolean;

export class DomainTable {
  /** domid -> the store generation when xenstored learned of the domain. */
  private readonly since = new Map<number, number>();

  constructor(private readonly exists: DomainExists) {
    this.since.set(0, 0); // dom0 is there from the start
  }

  /** Whether xenstored has a record of `domid`. */
  known(domid: number): boolean {
    return this.since.has(domid);
  }

  /**
   * Makes sure `domid` has a record if it exists on the hypervisor, stamping it with `generation`
   * when new. False when the domain does not exist.
   */
  learn(domid: number, generation: number): boolean {
    if (this.since.has(domid)) return true;
    if (!this.exists(domid)) return false;
    this.since.set(domid, generation);
    return true;
  }

  /** The domain is gone: its record goes, so its id starts afresh if it is reused. */
  forget(domid: number): void {
    if (domid !== 0) this.since.delete(domid);
  }

  /**
   * `perms` as they apply to a node last written at `generation`: entries after the first whose
   * domain has no record, or a record newer than the node, are marked ignored.
   */
  effective(perms: Perms, generation: number): Perms {
    let out: Perm[] | undefined;
    for (let i = 1; i < perms.length; i++) {
      const p = perms[i];
      if (p.ignore) continue;
      const since = this.since.get(p.id);
      if (since !== undefined && since <= generation) continue;
      out ??= [...perms];
      out[i] = { ...p, ignore: true };
    }
    return out ?? perms;
  }
}
