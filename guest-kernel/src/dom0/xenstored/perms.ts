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
/** Not a letter on the wire: what the owner, its device model and privileged callers have. */
export const PERM_OWNER = 8;

/**
 * One entry: a domain and its access bits. `ignore` marks an entry for a domain that did not exist
 * when it was set, or that was created after the node was written: it is listed, never applied.
 */
export interface Perm {
  readonly id: number;
  readonly perm: number;
  readonly ignore?: boolean;
}

/** A node's permission list; entry 0 is owner + default access. Never empty. */
export type Perms = readonly Perm[];

const LETTER = ["n", "r", "w", "b"] as const;

/** The wire form of one entry: "b0", "r5". */
export function formatPerm(p: Perm): string {
  return LETTER[p.perm] + String(p.id);
}

/**
 * Parses "r5" etc. as C xenstored does (xs_strings_to_perms: the letter, then a number in C's
 * notation — "r0x10" is domain 16); EINVAL on anything else.
 */
export function parsePerm(s: string): Perm {
  const m = /^([nrwb])(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(s);
  check(m, "EINVAL", `bad permission "${s}"`);
  const id = m[2].length > 1 && m[2][0] === "0" && !/[xX]/.test(m[2]) ? parseInt(m[2], 8) : Number(m[2]);
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
 * The access `who` has to a node with `perms`: full for the privileged and the owner (or its
 * device model), else the caller's own entry if listed and not ignored (or its target's), else the
 * default (entry 0's bits).
 */
export function accessFor(perms: Perms, who: Caller): number {
  if (who.privileged || perms[0].id === who.domid || perms[0].id === who.target)
    return PERM_BOTH | PERM_OWNER;
  for (let i = 1; i < perms.length; i++) {
    const p = perms[i];
    if (!p.ignore && (p.id === who.domid || p.id === who.target)) return p.perm;
  }
  return perms[0].perm;
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
 * A special name's permissions once `domid` is gone (remove_domid_from_perm in Xen): its entries go,
 * and if it was the owner, dom0 is. Returns the same array when unaffected.
 */
export function withoutDomain(perms: Perms, domid: number): Perms {
  if (!perms.some((p) => p.id === domid)) return perms;
  const owner = perms[0].id === domid ? { ...perms[0], id: 0 } : perms[0];
  return [owner, ...perms.slice(1).filter((p) => p.id !== domid)];
}
