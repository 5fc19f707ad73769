/**
 * FsApi: what a guest program gets as `k.fs`, shaped like node's `fs/promises` (readFile, writeFile,
 * readdir, stat, mkdir -p, rm -r, open → FileHandle ...) over a mounted filesystem. Paths are absolute
 * ("." and ".." and symlinks are resolved by the filesystem, at most 40 links per lookup). Errors are
 * the filesystem's FsErrors: `code` ENOENT etc., message as node words it.
 *
 * Text is UTF-8 only (the realm has TextEncoder/TextDecoder and no Buffer); any other encoding is
 * EINVAL. Times in Stats are milliseconds, as node's, from the filesystem's whole seconds.
 */
import { FsError } from "./errors.ts";
import type { DirEntryInfo, Ext2Fs, StatFs, StatInfo } from "./ext2/index.ts";
import { FileHandle, parseFlags, type OpenFlags } from "./file-handle.ts";
import { Dirent, Stats } from "./stats.ts";

export { Dirent, FileHandle, Stats };

/** What FsApi needs of a mounted filesystem (Ext2Fs is one). */
export type MountedFs = Pick<
  Ext2Fs,
  | "stat"
  | "lstat"
  | "readdir"
  | "readlink"
  | "open"
  | "close"
  | "read"
  | "write"
  | "fstat"
  | "ftruncate"
  | "truncate"
  | "mkdir"
  | "rmdir"
  | "unlink"
  | "rename"
  | "symlink"
  | "link"
  | "chmod"
  | "utimes"
  | "statfs"
  | "sync"
>;

const S_IFMT = 0o170000;

export type Encoding = "utf8" | "utf-8";
type EncodingOption = Encoding | { encoding?: Encoding | null } | null | undefined;

function encodingOf(opt: EncodingOption | { encoding?: string | null }): Encoding | undefined {
  const enc = typeof opt === "string" ? opt : (opt?.encoding ?? undefined);
  if (enc === undefined || enc === null) return undefined;
  if (enc !== "utf8" && enc !== "utf-8")
    throw new FsError("EINVAL", { detail: `encoding "${enc}" is not supported here (utf8 is)` });
  return enc;
}

const encoder = new TextEncoder();
const bytesOf = (data: string | Uint8Array): Uint8Array =>
  typeof data === "string" ? encoder.encode(data) : data;

/** Joins a directory path and a name. */
const join = (dir: string, name: string) => (dir.endsWith("/") ? dir : dir + "/") + name;

export class FsApi {
  constructor(readonly mounted: MountedFs) {}

  readFile(path: string, opts: { encoding: Encoding } | Encoding): Promise<string>;
  readFile(path: string, opts?: { encoding?: null } | null): Promise<Uint8Array>;
  async readFile(path: string, opts?: EncodingOption): Promise<string | Uint8Array> {
    const enc = encodingOf(opts);
    const fh = await this.open(path, "r");
    try {
      const data = await fh.readFile();
      return enc ? new TextDecoder().decode(data) : data;
    } finally {
      await fh.close();
    }
  }

  async writeFile(
    path: string,
    data: string | Uint8Array,
    opts?: { flag?: OpenFlags; mode?: number; encoding?: Encoding } | Encoding,
  ): Promise<void> {
    const o = typeof opts === "string" ? {} : (opts ?? {});
    encodingOf(opts);
    const fh = await this.open(path, o.flag ?? "w", o.mode);
    try {
      await fh.writeAll(bytesOf(data));
    } finally {
      await fh.close();
    }
  }

  appendFile(
    path: string,
    data: string | Uint8Array,
    opts?: { mode?: number; encoding?: Encoding },
  ): Promise<void> {
    return this.writeFile(path, data, { ...opts, flag: "a" });
  }

  async open(path: string, flags: OpenFlags = "r", mode?: number): Promise<FileHandle> {
    const f = parseFlags(flags);
    const ino = await this.mounted.open(path, { ...f, mode });
    return new FileHandle(this.mounted, ino, f, path);
  }

  readdir(path: string, opts: { withFileTypes: true }): Promise<Dirent[]>;
  readdir(path: string, opts?: { withFileTypes?: false }): Promise<string[]>;
  async readdir(path: string, opts?: { withFileTypes?: boolean }): Promise<string[] | Dirent[]> {
    const entries: DirEntryInfo[] = await this.mounted.readdir(path);
    return opts?.withFileTypes
      ? entries.map((e) => new Dirent(e.name, path, e.type))
      : entries.map((e) => e.name);
  }

  async stat(path: string): Promise<Stats> {
    return new Stats(await this.mounted.stat(path));
  }

  async lstat(path: string): Promise<Stats> {
    return new Stats(await this.mounted.lstat(path));
  }

  /** mkdir; with `recursive`, makes missing parents too and returns the first directory made. */
  async mkdir(path: string, opts?: { recursive?: boolean; mode?: number }): Promise<string | undefined> {
    if (!opts?.recursive) {
      await this.mounted.mkdir(path, opts?.mode);
      return undefined;
    }
    let first: string | undefined;
    let at = "";
    for (const part of path.split("/").filter((p) => p !== "")) {
      at += "/" + part;
      try {
        const st = await this.mounted.stat(at);
        if ((st.mode & S_IFMT) !== 0o040000) throw new FsError("ENOTDIR", { syscall: "mkdir", path });
        continue;
      } catch (e) {
        if ((e as FsError).code !== "ENOENT") throw e;
      }
      await this.mounted.mkdir(at, opts.mode);
      first ??= at;
    }
    return first;
  }

  rmdir(path: string): Promise<void> {
    return this.mounted.rmdir(path);
  }

  unlink(path: string): Promise<void> {
    return this.mounted.unlink(path);
  }

  /** rm: a file or symlink; a directory only with `recursive`; no error for a missing path with `force`. */
  async rm(path: string, opts?: { recursive?: boolean; force?: boolean }): Promise<void> {
    let st: StatInfo;
    try {
      st = await this.mounted.lstat(path);
    } catch (e) {
      if (opts?.force && (e as FsError).code === "ENOENT") return;
      throw e;
    }
    if ((st.mode & S_IFMT) !== 0o040000) return this.mounted.unlink(path);
    if (!opts?.recursive)
      throw new FsError("EISDIR", { syscall: "rm", path, detail: "a directory; use { recursive: true }" });
    for (const e of await this.mounted.readdir(path)) await this.rm(join(path, e.name), opts);
    await this.mounted.rmdir(path);
  }

  rename(from: string, to: string): Promise<void> {
    return this.mounted.rename(from, to);
  }

  symlink(target: string, path: string): Promise<void> {
    return this.mounted.symlink(target, path);
  }

  link(existing: string, path: string): Promise<void> {
    return this.mounted.link(existing, path);
  }

  readlink(path: string): Promise<string> {
    return this.mounted.readlink(path);
  }

  truncate(path: string, len = 0): Promise<void> {
    return this.mounted.truncate(path, len);
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.mounted.chmod(path, mode);
  }

  /** Times in seconds, or Dates. */
  utimes(path: string, atime: number | Date, mtime: number | Date): Promise<void> {
    const s = (t: number | Date) => (typeof t === "number" ? t : t.getTime() / 1000);
    return this.mounted.utimes(path, s(atime), s(mtime));
  }

  async access(path: string): Promise<void> {
    await this.mounted.stat(path);
  }

  /** The filesystem's sizes and free counts (node's statfs; `path` must exist, one mount holds all). */
  async statfs(path = "/"): Promise<StatFs> {
    await this.mounted.stat(path);
    return this.mounted.statfs();
  }

  sync(): Promise<void> {
    return this.mounted.sync();
  }
}
