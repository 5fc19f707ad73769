/**
 * A transaction, as C xenstored keeps one: the first time it touches a node it takes a private copy
 * (or notes that the node is absent) together with the node's generation, and from then on reads
 * and writes that copy. So a transaction sees each node as it was when it first looked, whatever
 * other connections write meanwhile, and its own writes; nobody else sees them before commit.
 *
 * Its copies cost memory, charged to the connection's domain while the transaction is open (as Xen
 * charges its transaction database), so parallel transactions cannot hold more than the domain's
 * quota. A request inside that fails leaves no trace in the copies (its writes are undone from a
 * journal of what each changed; what it read stays read, as in Xen), and one that failed
 * writing — a node over the size quota, memory over the quota, too many nodes — fails the whole
 * transaction: its commit is ENOMEM, as Xen's fail_transaction.
 *
 * Commit checks, in Xen's order: the entry quota of every domain whose node count the transaction
 * changed (when it created a node and the caller is unprivileged: ENOSPC), then that no node it
 * looked at has changed in the live tree since (EAGAIN, and the client retries, as libxenstore users
 * do); then the nodes it modified are written and their watch events fire.
 */
import { XsdError } from "./errors.ts";
import type { MemoryAccount } from "./memory.ts";
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
  /** Set when a request inside failed writing (a quota): the commit then fails (ENOMEM). */
  private failed = false;
  /** Watch events to fire if the transaction commits. */
  readonly changes: Change[] = [];

  private ended = false;
  /** Bytes charged for each copy, by path. */
  private readonly copyBytes = new Map<string, number>();

  /**
   * A transaction with an `id` (not a request's scratch one) counts as open until end().
   * @param limit nodes the transaction may touch (the transaction-nodes quota; Infinity for dom0)
   * @param payer who is charged for the copies, and whether the quota applies to it
   */
  constructor(
    readonly id: number,
    private readonly tree: Tree,
    private readonly limit = Infinity,
    private readonly payer?: { domid: number; account: MemoryAccount; check: boolean },
  ) {
    if (id !== 0) tree.openTransactions++;
  }

  /** A request inside failed while writing: the commit will fail (ENOMEM). */
  fail(): void {
    this.failed = true;
  }

  /** While a request runs (attempt()): how to undo each write it made, in order. */
  private journal?: (() => void)[];

  /**
   * Runs one request's work: if it throws, every write it made is undone (as Xen undoes the nodes a
   * failed request created) and the error goes on; what it read stays tracked and charged, and a
   * failure mark stays.
   */
  attempt<T>(fn: () => T): T {
    const journal: (() => void)[] = [];
    const changes = this.changes.length;
    this.journal = journal;
    try {
      return fn();
    } catch (e) {
      this.journal = undefined;
      for (let i = journal.length - 1; i >= 0; i--) journal[i]!();
      this.changes.length = changes;
      throw e;
    } finally {
      this.journal = undefined;
    }
  }

  /** The transaction is over (committed, aborted, or its connection gone). */
  end(): void {
    if (this.ended || this.id === 0) return;
    this.ended = true;
    this.tree.openTransactions--;
    for (const bytes of this.copyBytes.values()) this.payer?.account.release(this.payer.domid, bytes);
    this.copyBytes.clear();
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
    if (live) this.chargeCopy(path, recordBytes(path, live), false); // Xen copies what it reads
    return live;
  }

  put(path: string, node: Omit<Node, "gen">): void {
    const old = this.get(path);
    this.remember(path);
    if (old) this.count(path, old, -1);
    else this.createdNode = true;
    this.count(path, node, +1);
    if (!this.chargeCopy(path, recordBytes(path, node), true)) {
      this.failed = true;
      throw new XsdError("ENOMEM", "store memory quota exceeded");
    }
    const { value, perms, children } = node;
    this.view.set(path, { value, perms, children, gen: this.tree.nextGeneration() });
    this.modified.add(path);
  }

  delete(path: string): void {
    const old = this.get(path);
    this.remember(path);
    if (old) this.count(path, old, -1);
    this.chargeCopy(path, 0, false);
    this.view.set(path, null);
    this.modified.add(path);
  }

  entries(domid: number): number {
    return this.tree.entries(domid) + (this.entryDelta.get(domid) ?? 0);
  }

  /**
   * What `domid`'s nodes take. A transaction that pays for its copies leaves its own out: they are
   * already charged to its connection's domain, beside the live tree.
   */
  memory(domid: number): number {
    return this.tree.memory(domid) + (this.payer ? 0 : (this.memoryDelta.get(domid) ?? 0));
  }

  /** Journals how to put `path`'s copy, its modified mark and createdNode back as they are now. */
  private remember(path: string): void {
    if (!this.journal) return;
    const view = this.view.get(path) ?? null;
    const modified = this.modified.has(path);
    const created = this.createdNode;
    this.journal.push(() => {
      this.view.set(path, view);
      if (!modified) this.modified.delete(path);
      this.createdNode = created;
    });
  }

  /** Replaces the charge for `path`'s copy with `bytes`; false (nothing changed) if refused. */
  private chargeCopy(path: string, bytes: number, check: boolean): boolean {
    if (!this.payer) return true;
    const { domid, account } = this.payer;
    const old = this.copyBytes.get(path) ?? 0;
    account.release(domid, old);
    if (!account.charge(domid, bytes, check && this.payer.check)) {
      account.charge(domid, old, false);
      return false;
    }
    if (bytes > 0) this.copyBytes.set(path, bytes);
    else this.copyBytes.delete(path);
    this.journal?.push(() => this.chargeCopy(path, old, false));
    return true;
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
      // C xenstored's check at commit (transaction_fix_domains), of every domain whose count the
      // transaction touched, even back to where it was: the count afterwards must stay below the
      // quota, where a single write may reach it.
      for (const [domid, delta] of this.entryDelta) {
        if (this.tree.entries(domid) + delta >= quota.entriesPerDomain)
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
    this.adjust(node.perms[0].id, sign, sign * recordBytes(path, node));
  }

  private adjust(domid: number, entries: number, bytes: number): void {
    this.entryDelta.set(domid, (this.entryDelta.get(domid) ?? 0) + entries);
    this.memoryDelta.set(domid, (this.memoryDelta.get(domid) ?? 0) + bytes);
    this.journal?.push(() => this.adjust(domid, -entries, -bytes));
  }
}

/** Ends every transaction in `map` and empties it (a connection closing or resetting). */
export function endAll(map: Map<number, Transaction>): void {
  for (const tx of map.values()) tx.end();
  map.clear();
}
