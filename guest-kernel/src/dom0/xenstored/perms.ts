/**
 * Xen's node permission model. A node's list starts with the owner and the access everyone else gets
 * by default; later entries grant a named domain its own access. The owner and privileged callers
 * (dom0) always have full access. Perms are immutable values: copy before changing.
 */
import { check } from "./errors.ts";

export const PERM_NONE = 0;
export const PERM_READ = 1;
export const PERM_WRITE = 2;
export const PERM_BOTH = PERM_READ | PERM_WRITE;

/** One entry: a domain and its access bits. */
export interface Perm {
  readonly id: number;
  readonly perm: number;
}

/** A node's permission list; entry 0 is owner + default access. Never empty. */
export type Perms = readonly Perm[];

const LETTER = ["n", "r", "w", "b"] as const;

/** The wire form of one entry: "b0", "r5". */
export function formatPerm(p: Perm): string {
  return LETTER[p.perm] + String(p.id);
}

/** Parses "r5" etc.; EINVAL on anything else (unknown letter, bad or out-of-range domid). */
export function parsePerm(s: string): Perm {
  const m = /^([nrwb])(\d{1,5})$/.exec(s);
  check(m, "EINVAL", `bad permission "${s}"`);
  const id = Number(m[2]);
  check(id <= 0xffff, "EINVAL", `bad domid in permission "${s}"`);
  return { id, perm: LETTER.indexOf(m[1] as (typeof LETTER)[number]) };
}

/** The XS_GET_PERMS reply payload: each entry NUL-terminated. */
export function formatPerms(perms: Perms): string {
  return perms.map((p) => formatPerm(p) + "\0").join("");
}

/** Who is asking: a domain id, and whether it is privileged (dom0 and its local socket). */
export interface Caller {
  readonly domid: number;
  readonly privileged: boolean;
  /** XS_SET_TARGET: a device-model domain acts with its target's rights (it owns what the target owns). */
  readonly target?: number;
}

/**
 * The access `who` has to a node with `perms`: full for the privileged and the owner, else the
 * caller's own entry if listed, else the default (entry 0's bits).
 */
export function accessFor(perms: Perms, who: Caller): number {
  if (who.privileged || perms[0].id === who.domid || perms[0].id === who.target) return PERM_BOTH;
  for (let i = 1; i < perms.length; i++) if (perms[i].id === who.domid) return perms[i].perm;
  return perms[0].perm;
}

/** Throws EACCES unless `who` has every bit of `want` on a node with `perms`. */
export function requireAccess(perms: Perms, who: Caller, want: number): void {
  check((accessFor(perms, who) & want) === want, "EACCES");
}

/**
 * The permissions a new node starts with: its parent's, except that an unprivileged creator owns
 * what it creates (so a guest can always read back what it wrote under a directory dom0 lent it).
 */
export function inheritPerms(parent: Perms, creator: Caller): Perms {
  if (creator.privileged) return parent;
  return [{ id: creator.domid, perm: parent[0].perm }, ...parent.slice(1)];
}

/**
 * Drops every trace of a released domain: its entries go, and what it owned passes to dom0 (so a
 * later domain that reuses the id inherits nothing). Returns the same array when unaffected.
 */
export function revokeDomain(perms: Perms, domid: number): Perms {
  if (!perms.some((p) => p.id === domid)) return perms;
  const owner = perms[0].id === domid ? { id: 0, perm: perms[0].perm } : perms[0];
  return [owner, ...perms.slice(1).filter((p) => p.id !== domid)];
}
