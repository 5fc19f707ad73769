/**
 * A transaction: a private overlay over the live tree plus the generation of every node it looked
 * at. Commit succeeds only if none of those nodes changed since (else EAGAIN, and the client retries,
 * as libxenstore users do); then the overlay is applied and its watch events fire. Reads inside see
 * the transaction's own writes; nobody else sees them before commit.
 */
import { XsdError } from "./errors.ts";
import type { Node, NodeStore, Tree } from "./tree.ts";
import type { Change } from "./operations.ts";

export class Transaction implements NodeStore {
  /** Path -> new node, or null for deleted; in the order first touched. */
  private readonly overlay = new Map<string, Omit<Node, "gen"> | null>();
  /** Path -> generation seen at first access (0: did not exist). */
  private readonly seen = new Map<string, number>();
  private readonly delta = new Map<number, number>();
  /** Watch events to fire if the transaction commits. */
  readonly changes: Change[] = [];

  constructor(
    readonly id: number,
    private readonly tree: Tree,
  ) {}

  /**
   * Nodes this transaction tracks: every path it read or wrote, present or not (each costs memory
   * until the end, so the transaction-nodes quota bounds this, reads included).
   */
  get size(): number {
    return this.seen.size;
  }

  get(path: string): Node | undefined {
    if (this.overlay.has(path)) {
      const n = this.overlay.get(path);
      return n ? { ...n, gen: 0 } : undefined;
    }
    const n = this.tree.get(path);
    if (!this.seen.has(path)) this.seen.set(path, n?.gen ?? 0);
    return n;
  }

  put(path: string, node: Omit<Node, "gen">): void {
    const old = this.get(path);
    if (old) this.count(old.perms[0].id, -1);
    this.count(node.perms[0].id, +1);
    this.overlay.set(path, node);
  }

  delete(path: string): void {
    const old = this.get(path);
    if (old) this.count(old.perms[0].id, -1);
    this.overlay.set(path, null);
  }

  entries(domid: number): number {
    return this.tree.entries(domid) + (this.delta.get(domid) ?? 0);
  }

  /** True when a node this transaction read or wrote has changed in the live tree since. */
  conflicts(): boolean {
    for (const [path, gen] of this.seen) if ((this.tree.get(path)?.gen ?? 0) !== gen) return true;
    return false;
  }

  /**
   * Applies the overlay to the live tree, or throws EAGAIN (leaving the tree untouched) on conflict.
   * Returns the watch events to fire.
   */
  commit(): Change[] {
    if (this.conflicts()) throw new XsdError("EAGAIN", `transaction ${this.id} conflicts`);
    for (const [path, node] of this.overlay) {
      if (node) this.tree.put(path, node);
      else this.tree.delete(path);
    }
    return this.changes;
  }

  private count(domid: number, d: number): void {
    this.delta.set(domid, (this.delta.get(domid) ?? 0) + d);
  }
}
