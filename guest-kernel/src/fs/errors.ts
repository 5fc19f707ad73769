/**
 * Filesystem errors shaped like node's: an Error whose `code` is the errno name, whose `errno` is its
 * negated Linux number, and whose message reads `ENOENT: no such file or directory, open '/a/b'`.
 * Deep code (the block map, a directory scan) knows what went wrong but not which call or path the
 * user made; it throws a bare FsError and the path-level API adds `syscall` and `path` on the way out
 * (withContext), so every error a program sees names what it asked for.
 */

const ERRORS = {
  EPERM: [1, "operation not permitted"],
  ENOENT: [2, "no such file or directory"],
  EIO: [5, "i/o error"],
  EBADF: [9, "bad file descriptor"],
  EBUSY: [16, "resource busy or locked"],
  EEXIST: [17, "file already exists"],
  EXDEV: [18, "cross-device link not permitted"],
  ENOTDIR: [20, "not a directory"],
  EISDIR: [21, "illegal operation on a directory"],
  EINVAL: [22, "invalid argument"],
  EFBIG: [27, "file too large"],
  ENOSPC: [28, "no space left on device"],
  EROFS: [30, "read-only file system"],
  EMLINK: [31, "too many links"],
  ENAMETOOLONG: [36, "name too long"],
  ENOTEMPTY: [39, "directory not empty"],
  ELOOP: [40, "too many symbolic links encountered"],
} as const;

export type FsErrorCode = keyof typeof ERRORS;

export interface FsErrorContext {
  /** The call, as node names it: open, read, mkdir, rename... */
  syscall?: string;
  path?: string;
  /** The second path of rename/symlink/link. */
  dest?: string;
  /** What exactly was wrong, for errors the code alone does not explain (corruption, limits). */
  detail?: string;
}

export class FsError extends Error {
  readonly errno: number;
  readonly syscall?: string;
  readonly path?: string;
  readonly dest?: string;
  readonly detail?: string;

  constructor(
    readonly code: FsErrorCode,
    ctx: FsErrorContext = {},
  ) {
    super(formatMessage(code, ctx));
    this.name = "FsError";
    this.errno = -ERRORS[code][0];
    this.syscall = ctx.syscall;
    this.path = ctx.path;
    this.dest = ctx.dest;
    this.detail = ctx.detail;
  }
}

function formatMessage(code: FsErrorCode, ctx: FsErrorContext): string {
  let m = `${code}: ${ERRORS[code][1]}`;
  if (ctx.syscall) {
    m += `, ${ctx.syscall}`;
    if (ctx.path !== undefined) m += ` '${ctx.path}'`;
    if (ctx.dest !== undefined) m += ` -> '${ctx.dest}'`;
  }
  if (ctx.detail) m += ` (${ctx.detail})`;
  return m;
}

/** An error without call context yet (deep code throws these). */
export function fsError(code: FsErrorCode, detail?: string): FsError {
  return new FsError(code, { detail });
}

/**
 * On-disk data that cannot be right (a block number past the end, a record overrunning its block):
 * EIO naming what is wrong, as Linux's ext2 reports "structure needs cleaning" and refuses the call.
 */
export function corrupt(detail: string): FsError {
  return new FsError("EIO", { detail: `corrupt filesystem: ${detail}` });
}

/**
 * `e` with the call and paths filled in. A device failure (BlockError, whose code may be EIO or
 * EROFS) becomes an FsError of the same code; anything else (a bug) passes through unchanged.
 */
export function withContext(e: unknown, syscall: string, path?: string, dest?: string): unknown {
  if (e instanceof FsError) {
    if (e.syscall) return e;
    return new FsError(e.code, { syscall, path, dest, detail: e.detail });
  }
  if (e instanceof Error && e.name === "BlockError") {
    const code = (e as Error & { code: string }).code === "EROFS" ? "EROFS" : "EIO";
    return new FsError(code, { syscall, path, dest, detail: e.message });
  }
  return e;
}
