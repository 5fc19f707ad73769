/**
 * xenstore path rules: which names are valid, how a relative path resolves against a domain's home
 * (/local/domain/<id>/), and the parent/child relations the tree and watches use. Every path that
 * reaches the tree has passed canonicalPath(); nothing else builds paths from client bytes.
 */
import { XENSTORE_ABS_PATH_MAX, XENSTORE_REL_PATH_MAX } from "./abi.ts";
import { check } from "./errors.ts";

/** The characters xenstored accepts in a node name (Xen's is_valid_nodename). */
const VALID = /^[A-Za-z0-9\-/_@]*$/;

/** A domain's home directory, the base of its relative paths. */
export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/**
 * Resolves `path` for a connection of domain `domid` and validates it: absolute, no empty
 * components, no trailing slash (except "/"), only valid characters, within the length limits.
 * Throws EINVAL otherwise, as xenstored does.
 */
export function canonicalPath(path: string, domid: number): string {
  check(path.length > 0, "EINVAL", "empty path");
  const abs = path.startsWith("/") ? path : `${domainPath(domid)}/${path}`;
  check(VALID.test(abs), "EINVAL", "invalid character in path");
  check(abs === "/" || (!abs.endsWith("/") && !abs.includes("//")), "EINVAL", "empty path component");
  check(abs.length <= XENSTORE_ABS_PATH_MAX, "EINVAL", "path too long");
  // Within a domain's home only the part after /local/domain/<id>/ counts against the relative limit,
  // so that every domain gets the same room whatever the length of its domid.
  const m = /^\/local\/domain\/\d+\//.exec(abs);
  if (m) check(abs.length - m[0].length <= XENSTORE_REL_PATH_MAX, "EINVAL", "path too long");
  return abs;
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
