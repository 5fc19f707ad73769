/**
 * The store operations (read, write, mkdir, rm, directory, perms) over a NodeStore, with Xen's
 * permission checks and per-domain quotas. Paths must already be canonical (path.ts). Each change is
 * appended to `changes` for the watch code; the caller fires them now (live tree) or at commit.
 */
import { check } from "./errors.ts";
import { baseName, joinPath, parentPath } from "./path.ts";
import {
  PERM_READ,
  PERM_WRITE,
  accessFor,
  inheritPerms,
  requireAccess,
  type Caller,
  type Perms,
} from "./perms.ts";
import { nodeSize, type QuotaLimits } from "./quota.ts";
import type { Node, NodeStore } from "./tree.ts";

/** A change for watches: the node path, whether watches below it fire too (rm), and its perms. */
export interface Change {
  readonly path: string;
  readonly recursive: boolean;
  readonly perms: Perms;
}

/** Everything an operation needs besides its arguments. */
export interface OpContext {
  readonly store: NodeStore;
  readonly who: Caller;
  readonly quota: Readonly<QuotaLimits>;
  readonly changes: Change[];
}

const EMPTY = new Uint8Array(0);

/** The node at `path` if `who` may read it; ENOENT / EACCES otherwise. */
export function readNode(ctx: OpContext, path: string): Node {
  const node = ctx.store.get(path);
  check(node, "ENOENT");
  requireAccess(node.perms, ctx.who, PERM_READ);
  return node;
}

/** XS_WRITE: replace the value, creating the node and any missing parents. */
export function writeNode(ctx: OpContext, path: string, value: Uint8Array): void {
  const node = ctx.store.get(path);
  if (node) {
    requireAccess(node.perms, ctx.who, PERM_WRITE);
    putChecked(ctx, path, { ...node, value });
  } else {
    create(ctx, path, value);
  }
  ctx.changes.push({ path, recursive: false, perms: ctx.store.get(path)!.perms });
}

/** XS_MKDIR: create an empty node (and parents); an existing node is left as it is. */
export function makeDir(ctx: OpContext, path: string): void {
  if (ctx.store.get(path)) return;
  create(ctx, path, EMPTY);
  ctx.changes.push({ path, recursive: false, perms: ctx.store.get(path)!.perms });
}

/**
 * XS_RM: delete a node and everything below it. Removing a node that does not exist succeeds when
 * its parent exists (Xen's rule, which makes `rm` idempotent); "/" cannot be removed.
 */
export function removeNode(ctx: OpContext, path: string): void {
  check(path !== "/", "EINVAL", "cannot remove /");
  const node = ctx.store.get(path);
  if (!node) {
    check(ctx.store.get(parentPath(path)), "ENOENT");
    return;
  }
  requireAccess(node.perms, ctx.who, PERM_WRITE);
  const parent = ctx.store.get(parentPath(path))!;
  const name = baseName(path);
  // The parent only loses a child name: no write permission on it is needed, as in Xen.
  ctx.store.put(parentPath(path), { ...parent, children: parent.children.filter((c) => c !== name) });
  deleteTree(ctx.store, path, node);
  ctx.changes.push({ path, recursive: true, perms: node.perms });
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
 * XS_SET_PERMS: only the owner or a privileged caller may change them, and an unprivileged owner
 * may not give the node away (Xen's EPERM), nor list more than the quota allows.
 */
export function setPerms(ctx: OpContext, path: string, perms: Perms): void {
  check(perms.length > 0, "EINVAL", "empty permission list");
  const node = ctx.store.get(path);
  check(node, "ENOENT");
  const { who } = ctx;
  if (!who.privileged) {
    check(node.perms[0].id === who.domid, "EACCES", "only the owner may set permissions");
    check(perms[0].id === who.domid, "EPERM", "cannot give a node away");
    check(perms.length <= ctx.quota.permsPerNode, "ENOSPC", "too many permission entries");
  }
  if (perms[0].id !== node.perms[0].id) chargeEntry(ctx, perms[0].id);
  ctx.store.put(path, { ...node, perms });
  ctx.changes.push({ path, recursive: false, perms });
}

/** True when `who` may read the node `perms` protect: the filter for watch events. */
export function mayRead(perms: Perms, who: Caller): boolean {
  return (accessFor(perms, who) & PERM_READ) !== 0;
}

/**
 * Creates `path` and whatever ancestors are missing. The nearest existing ancestor must be
 * writable by the caller; each new node inherits its parent's permissions (perms.ts).
 */
function create(ctx: OpContext, path: string, value: Uint8Array): void {
  const missing: string[] = [];
  let at = path;
  while (!ctx.store.get(at)) {
    missing.push(at);
    at = parentPath(at);
  }
  const base = ctx.store.get(at)!;
  requireAccess(base.perms, ctx.who, PERM_WRITE);
  let parentAt = at;
  let parent = base;
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

/** Stores a node after checking the node-size quota for unprivileged callers. */
function putChecked(ctx: OpContext, path: string, node: Omit<Node, "gen">): void {
  if (!ctx.who.privileged) {
    check(nodeSize(node.value, node.children) <= ctx.quota.nodeSize, "ENOSPC", "node too large");
  }
  ctx.store.put(path, node);
}

/** Fails with ENOSPC when an unprivileged caller would push `owner` past its entry quota. */
function chargeEntry(ctx: OpContext, owner: number): void {
  if (ctx.who.privileged) return;
  check(ctx.store.entries(owner) < ctx.quota.entriesPerDomain, "ENOSPC", "entry quota exceeded");
}

function deleteTree(store: NodeStore, path: string, node: Node): void {
  // Iterative, so a deep tree cannot exhaust the JS stack.
  const stack: Array<[string, Node]> = [[path, node]];
  while (stack.length > 0) {
    const [p, n] = stack.pop()!;
    for (const c of n.children) {
      const cp = joinPath(p, c);
      const cn = store.get(cp);
      if (cn) stack.push([cp, cn]);
    }
    store.delete(p);
  }
}
