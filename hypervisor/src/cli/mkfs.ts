/**
 * `pvkit mkfs <image> [--size <MiB>] [-d <folder>] [--block-size N]`: makes a guest disk image. It
 * creates the image file (sparse) or extends it to --size, formats it as ext2 with the guest kernel's
 * own mkfs, and copies a folder into it as `mkfs.ext2 -d` does: directories, files (their holes kept
 * as holes), symlinks, hard links, modes, owners and modification times. Fifos, sockets and device
 * nodes are skipped, with a warning. Nothing here talks to a host: it is a file operation.
 *
 * Every failure is one line, `pvkit: mkfs: <image>: <why>`, and all arguments are checked before the
 * image is touched.
 */
import { randomFillSync } from "node:crypto";
import { lstatSync, readdirSync, readlinkSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join, relative } from "node:path";
import type { Command } from "commander";
import type { Ext2Fs } from "../../../guest-kernel/src/fs/ext2/index.ts";
import { CliError } from "./client.ts";
import { FileBlockDevice } from "./file-block-device.ts";
import { fsReason } from "./fs-reason.ts";

const MiB = 1024 * 1024;
/** Bytes copied per step: files stream through, never whole into memory. */
const COPY_CHUNK = MiB;

interface MkfsCliOptions {
  size?: string;
  dir?: string;
  blockSize?: string;
}

/** What to make, for callers in code (the demo makes its disk this way when e2fsprogs is missing). */
export interface MakeImageOptions {
  image: string;
  /** Create the image, or extend it, to this many MiB. */
  sizeMiB?: number;
  /** A folder to copy in. */
  from?: string;
  /** 1024, 2048 or 4096. */
  blockSize?: number;
  /** Volume label, at most 16 bytes. */
  label?: string;
}

export function registerMkfs(program: Command): void {
  program
    .command("mkfs <image>")
    .description("make an ext2 disk image for a guest, optionally filled from a folder (as mkfs.ext2 -d)")
    .option("--size <MiB>", "create the image, or extend it, to this size (MiB, or with m/g)")
    .option("-d, --dir <folder>", "copy this folder's contents into the new filesystem")
    .option("--block-size <bytes>", "1024, 2048 or 4096 (default: 1024 below 512 MiB, else 4096)")
    .action(async (image: string, opts: MkfsCliOptions) => {
      const sizeMiB = opts.size === undefined ? undefined : parseSize(image, opts.size);
      const blockSize = opts.blockSize === undefined ? undefined : Number(opts.blockSize);
      if (blockSize !== undefined && ![1024, 2048, 4096].includes(blockSize))
        throw fail(image, `--block-size "${opts.blockSize}" is not 1024, 2048 or 4096`);
      for (const line of await makeImage({ image, sizeMiB, from: opts.dir, blockSize })) console.log(line);
    });
}

function fail(image: string, why: string): CliError {
  return new CliError(`pvkit: mkfs: ${image}: ${why}`);
}

/** MiB from "512", "512m" or "2g" (MiB by default), 1 MiB to 64 GiB. */
function parseSize(image: string, text: string): number {
  const m = /^(\d+)([mMgG]?)$/.exec(text);
  const mib = m ? Number(m[1]) * (/g/i.test(m[2]!) ? 1024 : 1) : NaN;
  if (!(mib >= 1 && mib <= 65536)) throw fail(image, `--size "${text}" is not a size from 1 MiB to 64 GiB`);
  return mib;
}

/**
 * Creates or extends, formats and fills the image; returns the lines to print. Fails with a CliError
 * whose message is the one line `pvkit: mkfs: <image>: <why>`.
 */
export async function makeImage(o: MakeImageOptions): Promise<string[]> {
  const { image, blockSize } = o;
  const size = o.sizeMiB === undefined ? undefined : o.sizeMiB * MiB;
  if (o.from !== undefined) {
    const st = statOrUndefined(o.from);
    if (!st) throw fail(image, `${o.from}: no such folder`);
    if (!st.isDirectory()) throw fail(image, `${o.from}: not a folder`);
  }

  // Create or extend the image. A new (or newly grown from nothing) file reads as zeros.
  const existing = statOrUndefined(image);
  let zeroed = false;
  try {
    if (!existing) {
      if (size === undefined) throw fail(image, "no such file (give --size to create it)");
      writeFileSync(image, "", { flag: "wx" });
      truncateSync(image, size);
      zeroed = true;
    } else if (!existing.isFile()) throw fail(image, "not a regular file");
    else if (size !== undefined && existing.size > size)
      throw fail(image, `it is larger than ${o.sizeMiB} MiB; pvkit mkfs does not shrink an image`);
    else if (size !== undefined && existing.size < size) {
      zeroed = existing.size === 0;
      truncateSync(image, size);
    }
  } catch (e) {
    throw e instanceof CliError ? e : fail(image, fsReason(e));
  }

  const { mkfsExt2, mountExt2 } = await import("../../../guest-kernel/src/fs/ext2/index.ts");
  const now = () => Math.floor(Date.now() / 1000);
  const dev = await FileBlockDevice.open(image, { name: image }).catch((e: unknown) => {
    throw fail(image, fsReason(e));
  });
  try {
    const random = (b: Uint8Array) => void randomFillSync(b);
    const made = await mkfsExt2(dev, { now, random, blockSize, zeroed, label: o.label }).catch(
      (e: unknown) => {
        throw fail(image, fsReason(e));
      },
    );
    const lines = [
      `Formatted ${image}: ext2, ${made.blocks} blocks of ${made.blockSize} bytes, ${made.inodes} inodes, UUID ${made.uuid}`,
    ];
    if (o.from !== undefined) {
      const ext = await mountExt2(dev, { now, cacheBytes: 4 * MiB });
      const copy = new FolderCopy(ext, o.from, made.blockSize);
      try {
        await copy.dir(o.from, "/");
        await ext.unmount();
      } catch (e) {
        const where = copy.current ? ` (copying ${copy.current})` : "";
        throw fail(image, fsReason(e) + where);
      }
      lines.push(`Copied ${copy.copied} files, directories and links from ${o.from}`);
      if (copy.skipped.length > 0)
        console.error(
          `pvkit: mkfs: skipped ${copy.skipped.length} fifo(s), socket(s) or device(s): ${copy.skipped.slice(0, 5).join(", ")}` +
            (copy.skipped.length > 5 ? ", ..." : ""),
        );
    }
    return lines;
  } finally {
    await dev.close();
  }
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Copies a host folder into a mounted Ext2Fs, as mkfs.ext2 -d does. */
class FolderCopy {
  copied = 0;
  readonly skipped: string[] = [];
  /** The host path being copied, for an error's message. */
  current?: string;
  /** Files with more than one link, by host dev:ino, and the path their first link was given. */
  private readonly links = new Map<string, string>();

  constructor(
    private readonly ext: Ext2Fs,
    private readonly root: string,
    private readonly blockSize: number,
  ) {}

  async dir(host: string, at: string): Promise<void> {
    for (const name of readdirSync(host).sort()) {
      const h = join(host, name);
      const p = (at === "/" ? "" : at) + "/" + name;
      this.current = relative(this.root, h);
      const st = lstatSync(h);
      const owner = { uid: st.uid, gid: st.gid };
      if (st.isDirectory()) {
        await this.ext.mkdir(p, st.mode & 0o7777, owner);
        await this.dir(h, p);
      } else if (st.isSymbolicLink()) {
        await this.ext.symlink(readlinkSync(h), p, owner);
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? this.links.get(key) : undefined;
        if (first) await this.ext.link(first, p);
        else await this.file(h, p, st.mode & 0o7777, owner, st.size);
        if (st.nlink > 1) this.links.set(key, first ?? p);
      } else {
        this.skipped.push(relative(this.root, h));
        continue;
      }
      if (!st.isSymbolicLink()) await this.ext.utimes(p, st.atimeMs / 1000, st.mtimeMs / 1000);
      this.copied++;
    }
  }

  /** Streams a file in, leaving blocks of zeros out (holes, as mkfs.ext2 -d keeps them). */
  private async file(
    host: string,
    p: string,
    mode: number,
    owner: { uid: number; gid: number },
    size: number,
  ) {
    const ino = await this.ext.open(p, { write: true, create: true, exclusive: true, mode, ...owner });
    const fh = await open(host, "r");
    try {
      const buf = new Uint8Array(COPY_CHUNK);
      for (let pos = 0; pos < size;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        await this.writeNonZero(ino, buf.subarray(0, bytesRead), pos);
        pos += bytesRead;
      }
      await this.ext.ftruncate(ino, size); // a hole at the end still counts in the size
    } finally {
      await fh.close();
      await this.ext.close(ino);
    }
  }

  /** Writes `data` at `pos`, skipping whole blocks of zeros. */
  private async writeNonZero(ino: number, data: Uint8Array, pos: number): Promise<void> {
    const bs = this.blockSize;
    let runStart = -1;
    const flush = async (end: number) => {
      if (runStart >= 0) await this.ext.write(ino, data.subarray(runStart, end), pos + runStart);
      runStart = -1;
    };
    for (let off = 0; off < data.length; off += bs) {
      const zero = data.subarray(off, Math.min(off + bs, data.length)).every((b) => b === 0);
      if (!zero && runStart < 0) runStart = off;
      if (zero) await flush(off);
    }
    await flush(data.length);
  }
}
