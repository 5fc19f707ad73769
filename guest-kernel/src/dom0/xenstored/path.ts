/**
 * xenstore path rules: which names are valid, how a relative path resolves against a domain's home
 * (/local/domain/<id>/), and the parent/child relations the tree and watches use. Every path that
 * reaches the tree has passed canonicalPath(); nothing else builds paths from client bytes.
 */
import { XENSTORE_REL_PATH_MAX } from "./abi.ts";
import { check } from "./errors.ts";

/** The characters xenstored accepts in a node name (Xen's is_valid_nodename). */
const VALID = /^[A-Za-z0-9\-/_@]*$/;

/** A domain's home directory, the base of its relative paths. */
export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/**
 * Resolves `path` for a connection of domain `domid` and validates it as C xenstored does
 * (is_valid_nodename): absolute, no empty components, no trailing slash (except "/"), only valid
 * characters, and at most `pathMax` characters beyond a "/local/domain/<id>/" prefix (any domain's:
 * every domain gets the same room whatever the length of its id). A name starting with '@' is a
 * special watch name, never a node. Throws EINVAL otherwise.
 */
export function canonicalPath(path: string, domid: number, pathMax = XENSTORE_REL_PATH_MAX): string {
  check(path.length > 0, "EINVAL", "empty path");
  check(!path.startsWith("@"), "EINVAL", `"${path.slice(0, 64)}" is a special name, not a node`);
  const abs = path.startsWith("/") ? path : `${domainPath(domid)}/${path}`;
  check(VALID.test(abs), "EINVAL", "invalid character in path");
  check(abs === "/" || (!abs.endsWith("/") && !abs.includes("//")), "EINVAL", "empty path component");
  const prefix = LOCAL_PREFIX.exec(abs)?.[0].length ?? 0;
  check(abs.length <= prefix + pathMax, "EINVAL", "path too long");
  return abs;
}

/** The prefix C xenstored does not count against the path limit (sscanf "/local/domain/%5u/"). */
const LOCAL_PREFIX = /^\/local\/domain\/(?:-\d{1,4}|\d{1,5})\//;

/**
 * A watch path: a special name (any "@..." of up to 2048 characters: only @introduceDomain and
 * @releaseDomain ever fire) or a node path as canonicalPath() takes it.
 */
export function watchPath(path: string, domid: number, pathMax?: number): string {
  if (!path.startsWith("@")) return canonicalPath(path, domid, pathMax);
  check(path.length <= XENSTORE_REL_PATH_MAX, "EINVAL", "special name too long");
  return path;
}

/** Special watch names start with '@' and are not nodes: @introduceDomain, @releaseDomain. */
export function isSpecialPath(path: string): boolean {
  return path.startsWith("@");
}

/** "/a/b" -> "/a"; "/a" -> "/"; "/" has no parent. */
export function parentPath(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** The last component: "/a/b" -> "b". */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The path of `name` inside `dir`. */
export function joinPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

/** True when `path` is `ancestor` itself or lies beneath it ("/a/bc" is not under "/a/b"). */
export function isAtOrUnder(path: string, ancestor: string): boolean {
  if (ancestor === "/") return path.startsWith("/");
  return path === ancestor || path.startsWith(ancestor + "/");
}

/**
 * The path as the client should see it in a watch event: a watch registered with a relative path
 * gets relative event paths back (its home prefix stripped), as in Xen.
 */
export function presentPath(path: string, relative: boolean, domid: number): string {
  if (!relative) return path;
  const home = domainPath(domid) + "/";
  return path.startsWith(home) ? path.slice(home.length) : path;
}
