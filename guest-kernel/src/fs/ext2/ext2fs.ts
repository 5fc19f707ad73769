/**
 * The ext2 filesystem as the kernel uses it: calls by path (stat, readdir, mkdir, rename...) and by
 * open inode (read, write, truncate), each failing with a node-style FsError that names the call and
 * the path. Calls that change the filesystem run one at a time (a write lock); calls that only read
 * run alongside each other. Access times are not updated (as with Linux's noatime).
 *
 * An open file is held by its inode number. Unlinking a file that is open removes its name at once
 * and frees it at its last close, as Unix does; an image synced while such a file is open shows it to
 * e2fsck as an unattached inode, which is what Linux's orphan list exists for (not kept here).
 */
import type { BlockDevice } from "../../block/device.ts";
import { fsError, withContext } from "../errors.ts";
import { RwLock } from "../rwlock.ts";
import { listEntries } from "./directory.ts";
import { readData, truncateData, writeData } from "./file-data.ts";
import { readInode, writeInode, S_IFMT, type Inode } from "./inode.ts";
import { lookup, lookupParent } from "./namei.ts";
import * as mutate from "./mutate.ts";
import { readLink } from "./symlink.ts";
import { Volume, type MountOptions } from "./volume.ts";

export interface StatInfo {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  /** 512-byte units held (i_blocks). */
  blocks: number;
  blksize: number;
  /** Seconds since the epoch. */
  atime: number;
  mtime: number;
  ctime: number;
}

export interface DirEntryInfo {
  name: string;
  ino: number;
  /** The S_IFMT bits of the entry's type (S_IFREG, S_IFDIR, S_IFLNK...). */
  type: number;
}

export interface StatFs {
  type: number;
  bsize: number;
  blocks: number;
  bfree: number;
  /** Free blocks an unprivileged user may take (free less the root reserve). */
  bavail: number;
  files: number;
  ffree: number;
  namelen: number;
}

export interface OpenOptions {
  write?: boolean;
  create?: boolean;
  exclusive?: boolean;
  truncate?: boolean;
  /** Permission bits for a created file (default 0o644). */
  mode?: number;
}

/** Owner and permissions of new files, directories and symlinks. */
export interface Owner {
  uid?: number;
  gid?: number;
}

/** Directory-entry type byte → S_IFMT. */
const TYPE_MODES = [0, 0o100000, 0o040000, 0o020000, 0o060000, 0o010000, 0o140000, 0o120000];

export class Ext2Fs {
  private readonly lock = new RwLock();
  /** Open references per inode, and inodes whose last link went while they were open. */
  private readonly opens = new Map<number, number>();
  private readonly orphans = new Set<number>();

  private constructor(readonly vol: Volume) {}

  static async mount(dev: BlockDevice, opts: MountOptions): Promise<Ext2Fs> {
    return new Ext2Fs(await Volume.mount(dev, opts));
  }

  get readonly(): boolean {
    return this.vol.readonly;
  }

  /** Runs `fn` under the read or write lock and gives its error the call's context. */
  private async run<T>(
    kind: "read" | "write",
    syscall: string,
    path: string | undefined,
    fn: () => Promise<T>,
    dest?: string,
  ): Promise<T> {
    try {
      return kind === "read"
        ? await this.lock.read(fn)
        : await this.lock.write(() => {
            this.vol.checkWritable();
            return fn();
          });
    } catch (e) {
      throw withContext(e, syscall, path, dest);
    }
  }

  private statOf(inode: Inode): StatInfo {
    return {
      ino: inode.ino,
      mode: inode.mode,
      nlink: inode.links,
      uid: inode.uid,
      gid: inode.gid,
      size: inode.size,
      blocks: inode.blocks,
      blksize: this.vol.blockSize,
      atime: inode.atime,
      mtime: inode.mtime,
      ctime: inode.ctime,
    };
  }

  stat(path: string): Promise<StatInfo> {
    return this.run("read", "stat", path, async () => this.statOf(await lookup(this.vol, path, true)));
  }

  lstat(path: string): Promise<StatInfo> {
    return this.run("read", "lstat", path, async () => this.statOf(await lookup(this.vol, path, false)));
  }

  /** The entries of directory `path`, without "." and "..", in on-disk order. */
  readdir(path: string): Promise<DirEntryInfo[]> {
    return this.run("read", "scandir", path, async () => {
      const dir = await lookup(this.vol, path, true);
      if (!dir.isDir) throw fsError("ENOTDIR");
      const out: DirEntryInfo[] = [];
      for (const e of await listEntries(this.vol, dir)) {
        if (e.name === "." || e.name === "..") continue;
        // Without the filetype feature the type is in the inode only.
        const type = TYPE_MODES[e.fileType] ?? 0;
        out.push({
          name: e.name,
          ino: e.ino,
          type: type || (await readInode(this.vol, e.ino)).mode & S_IFMT,
        });
      }
      return out;
    });
  }

  readlink(path: string): Promise<string> {
    return this.run("read", "readlink", path, async () => {
      const inode = await lookup(this.vol, path, false);
      if (!inode.isSymlink) throw fsError("EINVAL");
      return new TextDecoder().decode(await readLink(this.vol, inode));
    });
  }

  /** Opens (and maybe creates or truncates) a file; returns its inode number for the calls below. */
  open(path: string, opts: OpenOptions & Owner = {}): Promise<number> {
    const changes = opts.write || opts.create || opts.truncate;
    return this.run(changes ? "write" : "read", "open", path, async () => {
      const inode = await mutate.openInode(this.vol, path, opts);
      this.opens.set(inode.ino, (this.opens.get(inode.ino) ?? 0) + 1);
      return inode.ino;
    });
  }

  /** Drops an open reference; frees the inode if it was unlinked meanwhile and this was the last. */
  close(ino: number): Promise<void> {
    const left = (this.opens.get(ino) ?? 1) - 1;
    if (left > 0) {
      this.opens.set(ino, left);
      return Promise.resolve();
    }
    this.opens.delete(ino);
    if (!this.orphans.has(ino)) return Promise.resolve();
    this.orphans.delete(ino);
    return this.run("write", "close", undefined, () => mutate.releaseByIno(this.vol, ino));
  }

  /** Reads into `buf` from byte `pos` of open inode `ino`; returns the bytes read (0 at the end). */
  read(ino: number, buf: Uint8Array, pos: number): Promise<number> {
    return this.run("read", "read", undefined, async () => {
      const inode = await readInode(this.vol, ino);
      if (inode.isDir) throw fsError("EISDIR");
      return readData(this.vol, inode, buf, pos);
    });
  }

  /** Writes `data` at `pos` (or at the end, for "append"); returns the offset just past it. */
  write(ino: number, data: Uint8Array, pos: number | "append"): Promise<number> {
    return this.run("write", "write", undefined, async () => {
      const inode = await readInode(this.vol, ino);
      if (inode.isDir) throw fsError("EISDIR");
      const at = pos === "append" ? inode.size : pos;
      await writeData(this.vol, inode, data, at);
      return at + data.length;
    });
  }

  fstat(ino: number): Promise<StatInfo> {
    return this.run("read", "fstat", undefined, async () => this.statOf(await readInode(this.vol, ino)));
  }

  ftruncate(ino: number, size: number): Promise<void> {
    return this.run("write", "ftruncate", undefined, async () => {
      const inode = await readInode(this.vol, ino);
      if (!inode.isFile) throw fsError(inode.isDir ? "EISDIR" : "EINVAL");
      await truncateData(this.vol, inode, checkSize(size));
    });
  }

  truncate(path: string, size: number): Promise<void> {
    return this.run("write", "truncate", path, async () => {
      const inode = await lookup(this.vol, path, true);
      if (!inode.isFile) throw fsError(inode.isDir ? "EISDIR" : "EINVAL");
      await truncateData(this.vol, inode, checkSize(size));
    });
  }

  mkdir(path: string, mode = 0o755, owner: Owner = {}): Promise<void> {
    return this.run("write", "mkdir", path, () => mutate.mkdir(this.vol, path, mode, owner));
  }

  rmdir(path: string): Promise<void> {
    return this.run("write", "rmdir", path, () => mutate.rmdir(this.vol, path, (i) => this.dropLink(i)));
  }

  unlink(path: string): Promise<void> {
    return this.run("write", "unlink", path, () => mutate.unlink(this.vol, path, (i) => this.dropLink(i)));
  }

  rename(from: string, to: string): Promise<void> {
    return this.run(
      "write",
      "rename",
      from,
      () => mutate.rename(this.vol, from, to, (i) => this.dropLink(i)),
      to,
    );
  }

  symlink(target: string, path: string, owner: Owner = {}): Promise<void> {
    return this.run("write", "symlink", target, () => mutate.symlink(this.vol, target, path, owner), path);
  }

  link(existing: string, path: string): Promise<void> {
    return this.run("write", "link", existing, () => mutate.link(this.vol, existing, path), path);
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.run("write", "chmod", path, () =>
      this.change(path, (i) => (i.mode = (i.mode & S_IFMT) | (mode & 0o7777))),
    );
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.run("write", "chown", path, () =>
      this.change(path, (i) => {
        i.uid = uid >>> 0;
        i.gid = gid >>> 0;
      }),
    );
  }

  /** Sets access and modification times (seconds), as utimes(2); symlinks are followed. */
  utimes(path: string, atime: number, mtime: number): Promise<void> {
    return this.run("write", "utime", path, () =>
      this.change(path, (i) => {
        i.atime = Math.floor(atime) >>> 0;
        i.mtime = Math.floor(mtime) >>> 0;
      }),
    );
  }

  private async change(path: string, edit: (i: Inode) => void): Promise<void> {
    const inode = await lookup(this.vol, path, true);
    edit(inode);
    inode.ctime = this.vol.now();
    await writeInode(this.vol, inode);
  }

  /** Called when an inode's last link goes: free it now, or at its last close if it is open. */
  private async dropLink(inode: Inode): Promise<void> {
    if (this.opens.has(inode.ino)) {
      this.orphans.add(inode.ino);
      await writeInode(this.vol, inode);
    } else await mutate.releaseByIno(this.vol, inode.ino, inode);
  }

  statfs(): Promise<StatFs> {
    return this.run("read", "statfs", "/", async () => {
      const sb = this.vol.sb;
      return {
        type: 0xef53,
        bsize: sb.blockSize,
        blocks: sb.blocksCount,
        bfree: sb.freeBlocks,
        bavail: Math.max(0, sb.freeBlocks - sb.reservedBlocks),
        files: sb.inodesCount,
        ffree: sb.freeInodes,
        namelen: 255,
      };
    });
  }

  /** Writes everything changed so far to the device and flushes it. */
  sync(): Promise<void> {
    return this.lock
      .write(() => this.vol.sync())
      .catch((e: unknown) => {
        throw withContext(e, "sync");
      });
  }

  /** Syncs and marks the filesystem cleanly unmounted; the object must not be used afterwards. */
  async unmount(): Promise<void> {
    for (const ino of this.orphans)
      await this.run("write", "umount", undefined, () => mutate.releaseByIno(this.vol, ino));
    this.orphans.clear();
    this.opens.clear();
    try {
      await this.lock.write(() => this.vol.unmount());
    } catch (e) {
      throw withContext(e, "umount");
    }
  }
}

function checkSize(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0) throw fsError("EINVAL", `size ${size}`);
  return size;
}
