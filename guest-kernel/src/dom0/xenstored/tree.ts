/**
 * The node tree: a map from canonical path to immutable Node values, with a generation counter that
 * tells transactions and XS_DIRECTORY_PART readers whether a node changed under them. Nodes are
 * replaced, never mutated: a transaction may hold a reference to the old one.
 */
import { PERM_NONE, type Perms } from "./perms.ts";
import { nodeMemory } from "./quota.ts";

/** The bytes a node's record takes (quota.ts), charged to its owner. */
export const recordBytes = (path: string, n: Omit<Node, "gen">) =>
  nodeMemory(path, n.value, n.perms.length, n.children);

/** One xenstore node. `children` keeps creation order, which is the order XS_DIRECTORY lists. */
export interface Node {
  readonly value: Uint8Array;
  readonly perms: Perms;
  readonly children: readonly string[];
  /** Bumped (globally unique) every time the node is replaced; 0 means "did not exist". */
  readonly gen: number;
}

/**
 * What operations read and write nodes through: the live tree, or a transaction's private view of it.
 * `put` assigns the generation; `entries` and `memory` are what a domain owns, for its quotas.
 */
export interface NodeStore {
  get(path: string): Node | undefined;
  put(path: string, node: Omit<Node, "gen">): void;
  delete(path: string): void;
  entries(domid: number): number;
  memory(domid: number): number;
  /** A write failed on a quota: a transaction then fails at commit (the live tree ignores it). */
  fail?(): void;
}

/** The live store, the only one watches and XS_DIRECTORY_PART generations see. */
export class Tree implements NodeStore {
  private readonly nodes = new Map<string, Node>();
  private readonly owned = new Map<number, number>();
  private readonly bytes = new Map<number, number>();
  private lastGen = 0;
  /** Transactions open on every connection (the write rate limit applies only while there are). */
  openTransactions = 0;

  constructor() {
    // "/", "/local", "/local/domain" and "/tool" exist from the start, owned by dom0 and closed to
    // everyone else; the toolstack opens each /local/domain/<id> to its domain.
    const closed = { value: new Uint8Array(0), perms: [{ id: 0, perm: PERM_NONE }] };
    this.put("/", { ...closed, children: ["local", "tool"] });
    this.put("/local", { ...closed, children: ["domain"] });
    this.put("/local/domain", { ...closed, children: [] });
    this.put("/tool", { ...closed, children: [] });
  }

  /** The generation the next change will get; a transaction records it as its start point. */
  get generation(): number {
    return this.lastGen;
  }

  /** A fresh generation, for a node a transaction writes privately. */
  nextGeneration(): number {
    return ++this.lastGen;
  }

  /** Number of nodes in the tree. */
  get size(): number {
    return this.nodes.size;
  }

  get(path: string): Node | undefined {
    return this.nodes.get(path);
  }

  put(path: string, node: Omit<Node, "gen">): void {
    const old = this.nodes.get(path);
    if (old) this.count(path, old, -1);
    this.count(path, node, +1);
    const { value, perms, children } = node;
    this.nodes.set(path, { value, perms, children, gen: ++this.lastGen });
  }

  delete(path: string): void {
    const old = this.nodes.get(path);
    if (!old) return;
    this.count(path, old, -1);
    this.nodes.delete(path);
  }

  entries(domid: number): number {
    return this.owned.get(domid) ?? 0;
  }

  memory(domid: number): number {
    return this.bytes.get(domid) ?? 0;
  }

  /** Every (path, node), for whole-tree fix-ups such as releasing a domain. */
  all(): IterableIterator<[string, Node]> {
    return this.nodes.entries();
  }

  private count(path: string, node: Omit<Node, "gen">, sign: 1 | -1): void {
    const domid = node.perms[0].id;
    const n = (this.owned.get(domid) ?? 0) + sign;
    if (n === 0) this.owned.delete(domid);
    else this.owned.set(domid, n);
    const b = (this.bytes.get(domid) ?? 0) + sign * recordBytes(path, node);
    if (b === 0) this.bytes.delete(domid);
    else this.bytes.set(domid, b);
  }
}
