/**
 * Stats and Dirent as node's fs returns them: the inode's fields with times in milliseconds, and the
 * isFile()/isDirectory()/isSymbolicLink() predicates programs test.
 */
import type { StatInfo } from "./ext2/index.ts";

const S_IFMT = 0o170000;

export class Stats {
  readonly dev = 0;
  readonly rdev = 0;
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly blksize: number;
  readonly blocks: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly birthtimeMs: number;

  constructor(s: StatInfo) {
    this.ino = s.ino;
    this.mode = s.mode;
    this.nlink = s.nlink;
    this.uid = s.uid;
    this.gid = s.gid;
    this.size = s.size;
    this.blksize = s.blksize;
    this.blocks = s.blocks;
    this.atimeMs = s.atime * 1000;
    this.mtimeMs = s.mtime * 1000;
    this.ctimeMs = s.ctime * 1000;
    this.birthtimeMs = this.ctimeMs;
  }
  get atime(): Date {
    return new Date(this.atimeMs);
  }
  get mtime(): Date {
    return new Date(this.mtimeMs);
  }
  get ctime(): Date {
    return new Date(this.ctimeMs);
  }
  isFile(): boolean {
    return (this.mode & S_IFMT) === 0o100000;
  }
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === 0o040000;
  }
  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === 0o120000;
  }
  isFIFO(): boolean {
    return (this.mode & S_IFMT) === 0o010000;
  }
  isSocket(): boolean {
    return (this.mode & S_IFMT) === 0o140000;
  }
  isCharacterDevice(): boolean {
    return (this.mode & S_IFMT) === 0o020000;
  }
  isBlockDevice(): boolean {
    return (this.mode & S_IFMT) === 0o060000;
  }
}

/** A directory entry with its type, as readdir(path, { withFileTypes: true }) returns. */
export class Dirent {
  constructor(
    readonly name: string,
    readonly parentPath: string,
    private readonly type: number,
  ) {}
  get path(): string {
    return this.parentPath;
  }
  isFile(): boolean {
    return this.type === 0o100000;
  }
  isDirectory(): boolean {
    return this.type === 0o040000;
  }
  isSymbolicLink(): boolean {
    return this.type === 0o120000;
  }
}
