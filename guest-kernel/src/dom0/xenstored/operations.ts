/**
 * The store operations (read, write, mkdir, rm, directory, perms) over a NodeStore, with Xen's
 * permission checks and per-domain quotas. Paths must already be canonical (path.ts). Each change is
 * appended to `changes` for the watch code; the caller fires them now (live tree) or at commit.
 */
import type { DomainTable } from "./domains.ts";
import { XsdError, check } from "./errors.ts";
import { baseName, joinPath, parentPath } from "./path.ts";
import {
  PERM_OWNER,
  PERM_READ,
  PERM_WRITE,
  accessFor,
  inheritPerms,
  type Caller,
  type Perm,
  type Perms,
} from "./perms.ts";
import { nodeSize, type QuotaLimits } from "./quota.ts";
import { recordBytes, type Node, type NodeStore } from "./tree.ts";

/**
 * A change for watches (fire_watches in Xen): the node's path; `exact` when only watches on exactly
 * this path fire (a node removed below the root of an rm), else every watch at or above it; and the
 * permission lists of which any readable one lets a watcher hear of it (the node's, old and new,
 * and its parent's).
 */
export interface Change {
  readonly path: string;
  readonly exact: boolean;
  readonly perms: readonly Perms[];
}

/** Everything an operation needs besides its arguments. */
export interface OpContext {
  readonly store: NodeStore;
  readonly who: Caller;
  readonly quota: Readonly<QuotaLimits>;
  readonly changes: Change[];
  readonly domains: DomainTable;
  /** What a domain's watches and queued messages cost, besides its nodes (memory.ts). */
  readonly extraMemory: (domid: number) => number;
}

const EMPTY = new Uint8Array(0);

/** The node at `path` with its permissions as they apply now (domains.ts), or undefined. */
export function nodeAt(ctx: OpContext, path: string): Node | undefined {
  const n = ctx.store.get(path);
  if (!n) return undefined;
  const perms = ctx.domains.effective(n.perms, n.gen);
  return perms === n.perms ? n : { ...n, perms };
}

/**
 * The node at `path` if `who` has every bit of `want` on it (get_node in Xen). When it does not, or
 * the node is missing, the error says only what the caller may know: ENOENT or EACCES if the
 * nearest existing ancestor grants it `want`, EACCES if not (errno_from_parents).
 */
export function getNode(ctx: OpContext, path: string, want: number): Node {
  const found = lookup(ctx, path, want);
  if (typeof found === "string") throw new XsdError(found);
  return found;
}

/**
 * getNode's answer, its error returned rather than thrown: a write asks whether each node it
 * creates is there, and an error made and caught for every new node (an Error records a stack)
 * was a seventh of the time xenstored spent on a create's entries.
 */
function lookup(ctx: OpContext, path: string, want: number): Node | "ENOENT" | "EACCES" {
  const node = nodeAt(ctx, path);
  if (node && (accessFor(node.perms, ctx.who) & want) === want) return node;
  const code = node ? "EACCES" : "ENOENT";
  let at = path;
  let parent: Node | undefined;
  while (!parent && at !== "/") {
    at = parentPath(at);
    parent = nodeAt(ctx, at);
  }
  const parentAccess = parent ? accessFor(parent.perms, ctx.who) : 0;
  return (parentAccess & want) !== 0 ? code : "EACCES";
}

/** The node at `path` if `who` may read it. */
export function readNode(ctx: OpContext, path: string): Node {
  return getNode(ctx, path, PERM_READ);
}

/** `getNode`, or undefined when the node is missing (and the caller may be told so). */
function existing(ctx: OpContext, path: string, want: number): Node | undefined {
  const found = lookup(ctx, path, want);
  if (found === "ENOENT") return undefined;
  if (typeof found === "string") throw new XsdError(found);
  return found;
}

/** XS_WRITE: replace the value, creating the node and any missing parents. */
export function writeNode(ctx: OpContext, path: string, value: Uint8Array): void {
  const node = existing(ctx, path, PERM_WRITE);
  if (node) putChecked(ctx, path, { ...node, value });
  else create(ctx, path, value);
  changed(ctx, path, nodeAt(ctx, path)!.perms);
}

/** XS_MKDIR: create an empty node (and parents); an existing node the caller may write is left as is. */
export function makeDir(ctx: OpContext, path: string): void {
  if (existing(ctx, path, PERM_WRITE)) return;
  create(ctx, path, EMPTY);
  changed(ctx, path, nodeAt(ctx, path)!.perms);
}

/**
 * XS_RM: delete a node and everything below it. Removing a node that does not exist succeeds when
 * its parent exists (Xen's rule, which makes `rm` idempotent); "/" cannot be removed. Every node
 * removed fires the watches on it; the top one also those above it.
 */
export function removeNode(ctx: OpContext, path: string): void {
  const node = existing(ctx, path, PERM_WRITE);
  if (!node) {
    check(ctx.store.get(parentPath(path)), "ENOENT");
    return;
  }
  check(path !== "/", "EINVAL", "cannot remove /");
  const parent = ctx.store.get(parentPath(path))!;
  const name = baseName(path);
  // The parent only loses a child name: no write permission on it is needed, as in Xen.
  ctx.store.put(parentPath(path), { ...parent, children: parent.children.filter((c) => c !== name) });
  deleteTree(ctx, path, node);
}

/** XS_DIRECTORY: the child names in creation order. */
export function listChildren(ctx: OpContext, path: string): readonly string[] {
  return readNode(ctx, path).children;
}

/** XS_GET_PERMS. */
export function getPerms(ctx: OpContext, path: string): Perms {
  return readNode(ctx, path).perms;
}

/**
 * XS_SET_PERMS on a node: only its owner (or its device model) or a privileged caller may, and an
 * unprivileged one may not give the node away (EPERM). `perms` were checked by checkNewPerms().
 */
export function setPerms(ctx: OpContext, path: string, perms: Perms): void {
  const node = getNode(ctx, path, PERM_WRITE | PERM_OWNER);
  check(ctx.who.privileged || perms[0].id === node.perms[0].id, "EPERM", "cannot give a node away");
  if (perms[0].id !== node.perms[0].id) chargeEntry(ctx, perms[0].id);
  putChecked(ctx, path, { ...node, perms });
  changed(ctx, path, perms, node.perms);
}

/**
 * Checks a new permission list as C xenstored does before it looks at the node: not more entries
 * than the quota allows an unprivileged caller (ENOSPC); an owner that does not exist is ENOENT; an
 * entry for any other domain that does not exist is kept but marked ignored.
 */
export function checkNewPerms(ctx: OpContext, perms: Perm[], generation: number): Perm[] {
  check(ctx.who.privileged || perms.length <= ctx.quota.permsPerNode, "ENOSPC", "too many entries");
  const out = perms.map((p) => (ctx.domains.learn(p.id, generation) ? p : { ...p, ignore: true }));
  check(!out[0].ignore, "ENOENT", `domain ${perms[0].id} does not exist`);
  return out;
}

/** Whether `who` may set `perms`' permissions: the owner, its device model, or a privileged caller. */
export function mayOwn(perms: Perms, who: Caller): boolean {
  const want = PERM_WRITE | PERM_OWNER;
  return (accessFor(perms, who) & want) === want;
}

/** True when `who` may read through any of `perms`: the filter for watch events. */
export function mayRead(perms: readonly Perms[], who: Caller): boolean {
  return perms.some((p) => (accessFor(p, who) & PERM_READ) !== 0);
}

/** Records a change to `path` for watches, readable through its perms (old and new) or its parent's. */
function changed(ctx: OpContext, path: string, ...perms: Perms[]): void {
  const parent = path === "/" ? undefined : nodeAt(ctx, parentPath(path));
  ctx.changes.push({ path, exact: false, perms: parent ? [...perms, parent.perms] : perms });
}

/**
 * Creates `path` and whatever ancestors are missing (construct_node in Xen); the caller checked
 * that the nearest existing ancestor lets it write. Each new node inherits its parent's
 * permissions, and an unprivileged creator owns what it creates.
 */
function create(ctx: OpContext, path: string, value: Uint8Array): void {
  const missing: string[] = [];
  let at = path;
  while (!ctx.store.get(at)) {
    missing.push(at);
    at = parentPath(at);
  }
  let parentAt = at;
  let parent = nodeAt(ctx, at)!;
  for (let i = missing.length - 1; i >= 0; i--) {
    const p = missing[i];
    const perms = inheritPerms(parent.perms, ctx.who);
    chargeEntry(ctx, perms[0].id);
    putChecked(ctx, parentAt, { ...parent, children: [...parent.children, baseName(p)] });
    const node = { value: i === 0 ? value : EMPTY, perms, children: [] as string[] };
    putChecked(ctx, p, node);
    parentAt = p;
    parent = { ...node, gen: 0 };
  }
}

/**
 * Stores a node after the checks C xenstored makes of an unprivileged writer: the record (24-byte
 * header, 8 bytes a permission, value, child names) must stay under the node-size quota (ENOSPC),
 * and its owner's store memory under the memory quota (ENOMEM).
 */
function putChecked(ctx: OpContext, path: string, node: Omit<Node, "gen">): void {
  if (!ctx.who.privileged) {
    const record = 24 + 8 * node.perms.length + nodeSize(node.value, node.children);
    const owner = node.perms[0].id;
    const old = ctx.store.get(path);
    const before = old && old.perms[0].id === owner ? recordBytes(path, old) : 0;
    const after = ctx.store.memory(owner) + ctx.extraMemory(owner) - before + recordBytes(path, node);
    // Xen's write_node fails the transaction when either check refuses.
    if (record >= ctx.quota.nodeSize || (owner !== 0 && after >= ctx.quota.memoryPerDomain))
      ctx.store.fail?.();
    check(record < ctx.quota.nodeSize, "ENOSPC", "node too large");
    check(owner === 0 || after < ctx.quota.memoryPerDomain, "ENOMEM", "store memory quota exceeded");
  }
  ctx.store.put(path, node);
}

/** Fails with ENOSPC when an unprivileged caller would push `owner` past its entry quota. */
function chargeEntry(ctx: OpContext, owner: number): void {
  if (ctx.who.privileged) return;
  check(ctx.store.entries(owner) < ctx.quota.entriesPerDomain, "ENOSPC", "entry quota exceeded");
}

/**
 * Deletes a subtree bottom-up, as Xen's walk does: every node removed fires the watches on exactly
 * its path, the root also those above it (iterative, so a deep tree cannot exhaust the stack).
 */
function deleteTree(ctx: OpContext, root: string, rootNode: Node): void {
  const order: [string, Node][] = [];
  const stack: [string, Node][] = [[root, rootNode]];
  while (stack.length > 0) {
    const [p, n] = stack.pop()!;
    order.push([p, n]);
    for (const c of n.children) {
      const cp = joinPath(p, c);
      const cn = nodeAt(ctx, cp);
      if (cn) stack.push([cp, cn]);
    }
  }
  // A watcher hears of a removed node it could read, or whose parent it could read.
  const perms = new Map(order.map(([p, n]) => [p, n.perms]));
  const above = nodeAt(ctx, parentPath(root))?.perms;
  for (let i = order.length - 1; i >= 0; i--) {
    const [p, n] = order[i];
    ctx.store.delete(p);
    const parent = p === root ? above : perms.get(parentPath(p));
    ctx.changes.push({ path: p, exact: p !== root, perms: parent ? [n.perms, parent] : [n.perms] });
  }
}
