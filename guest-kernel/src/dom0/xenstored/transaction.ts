/**
 * A transaction, as C xenstored keeps one: the first time it touches a node it takes a private copy
 * (or notes that the node is absent) together with the node's generation, and from then on reads
 * and writes that copy. So a transaction sees each node as it was when it first looked, whatever
 * other connections write meanwhile, and its own writes; nobody else sees them before commit.
 *
 * Commit checks, in Xen's order: the entry quota of every domain whose node count the transaction
 * changes (when it created a node and the caller is unprivileged: ENOSPC), then that no node it
 * looked at has changed in the live tree since (EAGAIN, and the client retries, as libxenstore users
 * do); then the nodes it modified are written and their watch events fire.
 */
import { XsdError } from "./errors.ts";
import type { Change } from "./operations.ts";
import type { QuotaLimits } from "./quota.ts";
import { recordBytes, type Node, type NodeStore, type Tree } from "./tree.ts";

export class Transaction implements NodeStore {
  /** Path -> this transaction's copy of the node (null: absent), in the order first touched. */
  private readonly view = new Map<string, Node | null>();
  /** Path -> the node's live generation when first touched (0: did not exist). */
  private readonly seen = new Map<string, number>();
  private readonly modified = new Set<string>();
  private readonly entryDelta = new Map<number, number>();
  private readonly memoryDelta = new Map<number, number>();
  private createdNode = false;
  /** Set when a request inside failed on the transaction-nodes quota: commit then fails (ENOMEM). */
  private failed = false;
  /** Watch events to fire if the transaction commits. */
  readonly changes: Change[] = [];

  /**
   * @param limit nodes the transaction may touch (the transaction-nodes quota; Infinity for dom0)
   */
  private ended = false;

  /** A transaction with an `id` (not a request's scratch one) counts as open until end(). */
  constructor(
    readonly id: number,
    private readonly tree: Tree,
    private readonly limit = Infinity,
  ) {
    if (id !== 0) tree.openTransactions++;
  }

  /** The transaction is over (committed, aborted, or its connection gone). */
  end(): void {
    if (this.ended || this.id === 0) return;
    this.ended = true;
    this.tree.openTransactions--;
  }

  /** Nodes this transaction has written or deleted (what the write rate limit charges). */
  get writes(): number {
    return this.modified.size;
  }

  /** Nodes this transaction has touched (each costs memory until it ends). */
  get size(): number {
    return this.view.size;
  }

  get(path: string): Node | undefined {
    const mine = this.view.get(path);
    if (mine !== undefined) return mine ?? undefined;
    if (this.view.size >= this.limit) {
      this.failed = true;
      throw new XsdError("ENOSPC", "transaction touches too many nodes");
    }
    const live = this.tree.get(path);
    this.seen.set(path, live?.gen ?? 0);
    this.view.set(path, live ?? null);
    return live;
  }

  put(path: string, node: Omit<Node, "gen">): void {
    const old = this.get(path);
    if (old) this.count(path, old, -1);
    else this.createdNode = true;
    this.count(path, node, +1);
    const { value, perms, children } = node;
    this.view.set(path, { value, perms, children, gen: this.tree.nextGeneration() });
    this.modified.add(path);
  }

  delete(path: string): void {
    const old = this.get(path);
    if (old) this.count(path, old, -1);
    this.view.set(path, null);
    this.modified.add(path);
  }

  entries(domid: number): number {
    return this.tree.entries(domid) + (this.entryDelta.get(domid) ?? 0);
  }

  memory(domid: number): number {
    return this.tree.memory(domid) + (this.memoryDelta.get(domid) ?? 0);
  }

  /** True when a node this transaction looked at has changed in the live tree since. */
  conflicts(): boolean {
    for (const [path, gen] of this.seen) if ((this.tree.get(path)?.gen ?? 0) !== gen) return true;
    return false;
  }

  /**
   * Applies the transaction's writes to the live tree, or throws (ENOMEM, ENOSPC, EAGAIN) leaving
   * it untouched. `quota` is given for an unprivileged caller. Returns the watch events to fire.
   */
  commit(quota?: Readonly<QuotaLimits>): Change[] {
    if (this.failed) throw new XsdError("ENOMEM", `transaction ${this.id} failed earlier`);
    if (quota && this.createdNode) {
      // C xenstored's check at commit (transaction_fix_domains): the count afterwards must stay
      // below the quota, where a single write may reach it.
      for (const [domid, delta] of this.entryDelta) {
        if (delta !== 0 && this.tree.entries(domid) + delta >= quota.entriesPerDomain)
          throw new XsdError("ENOSPC", `transaction ${this.id} would exceed domain ${domid}'s node quota`);
      }
    }
    if (this.conflicts()) throw new XsdError("EAGAIN", `transaction ${this.id} conflicts`);
    for (const path of this.modified) {
      const node = this.view.get(path);
      if (node) this.tree.put(path, node);
      else this.tree.delete(path);
    }
    return this.changes;
  }

  private count(path: string, node: Omit<Node, "gen">, sign: 1 | -1): void {
    const domid = node.perms[0].id;
    this.entryDelta.set(domid, (this.entryDelta.get(domid) ?? 0) + sign);
    this.memoryDelta.set(domid, (this.memoryDelta.get(domid) ?? 0) + sign * recordBytes(path, node));
  }
}

/** Ends every transaction in `map` and empties it (a connection closing or resetting). */
export function endAll(map: Map<number, Transaction>): void {
  for (const tx of map.values()) tx.end();
  map.clear();
}
