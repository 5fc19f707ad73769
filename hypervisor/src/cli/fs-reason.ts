/**
 * Why a file operation failed, in words a user reads ("permission denied"), never a raw errno: the
 * CLI's one-line errors end with it.
 */
const REASONS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "not permitted",
  EISDIR: "it is a directory",
  ENOTDIR: "a part of the path is not a directory",
  ENOSPC: "no space left on the device",
  EROFS: "the file system is read-only",
  EEXIST: "it already exists",
};

export function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code && REASONS[code]) return REASONS[code];
  const msg = e instanceof Error ? e.message : String(e);
  // Node's messages start "ECODE: words, syscall 'path'": keep the words.
  return /^[A-Z0-9]+: ([^,]+)/.exec(msg)?.[1] ?? msg;
}
