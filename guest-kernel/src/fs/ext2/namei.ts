/**
 * Path lookup (Unix's namei): from the root directory, one component at a time, following symbolic
 * links met on the way (and the last one, when asked), at most 40 of them per lookup as Linux allows.
 * ".." is looked up in the directory like any name (the root's ".." is itself), so it means the
 * parent of where a symlink led, not a textual "go up". A path is taken from the root whether or not
 * it starts with "/": there is no current directory here.
 */
import { fsError } from "../errors.ts";
import { findEntry, MAX_NAME } from "./directory.ts";
import { readInode, ROOT_INO, type Inode } from "./inode.ts";
import { readLink } from "./symlink.ts";
import type { Volume } from "./volume.ts";

export const MAX_SYMLINKS = 40;
export const PATH_MAX = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Checks a path's shape: a string, no NUL byte, not empty, shorter than PATH_MAX. */
export function checkPath(path: string): void {
  if (typeof path !== "string" || path.includes("\0"))
    throw fsError("EINVAL", "a path must be a string without NUL bytes");
  if (path.length === 0) throw fsError("ENOENT");
  if (encoder.encode(path).length >= PATH_MAX) throw fsError("ENAMETOOLONG");
}

/** A file name's bytes; ENAMETOOLONG past 255. */
export function nameBytes(name: string): Uint8Array {
  const b = encoder.encode(name);
  if (b.length > MAX_NAME) throw fsError("ENAMETOOLONG", `a name of ${b.length} bytes (at most ${MAX_NAME})`);
  return b;
}

/** Follows `path` from the root; the last component's symlink too if `followLast`. */
export async function lookup(vol: Volume, path: string, followLast: boolean): Promise<Inode> {
  checkPath(path);
  const mustBeDir = path.endsWith("/");
  const pending = path.split("/").filter((c) => c !== "" && c !== ".");
  let cur = await readInode(vol, ROOT_INO);
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (!cur.isDir) throw fsError("ENOTDIR");
    const entry = await findEntry(vol, cur, nameBytes(name));
    if (!entry) throw fsError("ENOENT");
    const next = await readInode(vol, entry.ino);
    const last = pending.length === 0;
    if (next.isSymlink && (!last || followLast || mustBeDir)) {
      if (++links > MAX_SYMLINKS) throw fsError("ELOOP");
      const target = decoder.decode(await readLink(vol, next));
      if (target.startsWith("/")) cur = await readInode(vol, ROOT_INO);
      pending.unshift(...target.split("/").filter((c) => c !== "" && c !== "."));
      continue;
    }
    cur = next;
  }
  if (mustBeDir && !cur.isDir) throw fsError("ENOTDIR");
  return cur;
}

/** A path split into its directory (looked up, following symlinks) and its last name. */
export interface ParentAndName {
  dir: Inode;
  /** "" for the root itself, "." or ".." as written. */
  name: string;
  bytes: Uint8Array;
}

export async function lookupParent(vol: Volume, path: string): Promise<ParentAndName> {
  checkPath(path);
  const trimmed = path.replace(/\/+$/, "");
  const slash = trimmed.lastIndexOf("/");
  const name = trimmed.slice(slash + 1);
  const dir = await lookup(vol, slash <= 0 ? "/" : trimmed.slice(0, slash), true);
  if (!dir.isDir) throw fsError("ENOTDIR");
  return { dir, name, bytes: nameBytes(name) };
}
