/**
 * An open file, as node's fs/promises FileHandle: read/write at a position or at the handle's own
 * offset (which they advance), stat, truncate, sync, close. A handle opened for appending ("a")
 * writes at the end of the file whatever position it is given, as O_APPEND does.
 */
import { FsError } from "./errors.ts";
import type { MountedFs } from "./fs-api.ts";
import { Stats } from "./stats.ts";

/** node's open flags, as strings (numbers are not taken: the realm has no fs.constants). */
export type OpenFlags = "r" | "r+" | "rs+" | "w" | "wx" | "w+" | "wx+" | "a" | "ax" | "a+" | "ax+";

export interface ParsedFlags {
  read: boolean;
  write: boolean;
  create: boolean;
  exclusive: boolean;
  truncate: boolean;
  append: boolean;
}

export function parseFlags(flags: string): ParsedFlags {
  const m = /^([rwa])(s?)(x?)(\+?)$/.exec(flags);
  if (!m || (m[1] === "r" && m[3]) || (m[2] && m[1] !== "r"))
    throw new FsError("EINVAL", { syscall: "open", detail: `flags "${flags}"` });
  const [, kind, , x, plus] = m;
  return {
    read: kind === "r" || plus === "+",
    write: kind !== "r" || plus === "+",
    create: kind !== "r",
    exclusive: x === "x",
    truncate: kind === "w",
    append: kind === "a",
  };
}

/** Bytes read per step of readFile: the whole file is read, but a step at a time. */
const READ_STEP = 1024 * 1024;
/** node refuses readFile past 2 GiB too (ERR_FS_FILE_TOO_LARGE); a guest has far less memory anyway. */
const MAX_READ_FILE = 2 ** 31 - 1;

export class FileHandle {
  private position = 0;
  private closed = false;

  constructor(
    private readonly fs: MountedFs,
    /** The inode number: the filesystem's name for the open file. */
    readonly fd: number,
    private readonly flags: ParsedFlags,
    private readonly path: string,
  ) {}

  private check(op: string, need?: "read" | "write"): void {
    if (this.closed) throw new FsError("EBADF", { syscall: op, detail: `${this.path} is closed` });
    if (need && !this.flags[need])
      throw new FsError("EBADF", { syscall: op, detail: `${this.path} was not opened for ${need}ing` });
  }

  /** Reads up to `length` bytes into `buffer[offset...]` from `position` (or the handle's offset). */
  async read(
    buffer: Uint8Array,
    offset = 0,
    length = buffer.length - offset,
    position: number | null = null,
  ): Promise<{ bytesRead: number; buffer: Uint8Array }> {
    this.check("read", "read");
    if (offset < 0 || length < 0 || offset + length > buffer.length)
      throw new FsError("EINVAL", { syscall: "read", detail: "offset/length outside the buffer" });
    const at = position ?? this.position;
    const bytesRead = await this.fs.read(this.fd, buffer.subarray(offset, offset + length), at);
    if (position === null) this.position = at + bytesRead;
    return { bytesRead, buffer };
  }

  /**
   * As node: write(buffer, offset?, length?, position?) writes `length` bytes of `buffer[offset...]`;
   * write(string, position?, encoding?) writes the string as UTF-8. A null or missing position means
   * the handle's offset, which then advances.
   */
  async write(
    data: Uint8Array | string,
    offsetOrPosition?: number | null,
    lengthOrEncoding?: number | string,
    position: number | null = null,
  ): Promise<{ bytesWritten: number; buffer: Uint8Array | string }> {
    this.check("write", "write");
    let bytes: Uint8Array;
    if (typeof data === "string") {
      if (lengthOrEncoding !== undefined && lengthOrEncoding !== "utf8" && lengthOrEncoding !== "utf-8")
        throw new FsError("EINVAL", {
          syscall: "write",
          detail: `encoding "${lengthOrEncoding}" (utf8 is supported)`,
        });
      bytes = new TextEncoder().encode(data);
      position = offsetOrPosition ?? null;
    } else {
      const offset = offsetOrPosition ?? 0;
      const len = typeof lengthOrEncoding === "number" ? lengthOrEncoding : data.length - offset;
      if (offset < 0 || len < 0 || offset + len > data.length)
        throw new FsError("EINVAL", { syscall: "write", detail: "offset/length outside the buffer" });
      bytes = data.subarray(offset, offset + len);
    }
    const at = this.flags.append ? "append" : (position ?? this.position);
    const end = await this.fs.write(this.fd, bytes, at);
    if (position === null || this.flags.append) this.position = end;
    return { bytesWritten: bytes.length, buffer: data };
  }

  /** Writes all of `data` from the handle's offset (writeFile's body). */
  async writeAll(data: Uint8Array): Promise<void> {
    await this.write(data);
  }

  /** The rest of the file from the handle's offset. */
  async readFile(): Promise<Uint8Array> {
    this.check("read", "read");
    const size = (await this.fs.fstat(this.fd)).size;
    if (size - this.position > MAX_READ_FILE)
      throw new FsError("EFBIG", {
        syscall: "read",
        path: this.path,
        detail: `${size} bytes is too large to read at once`,
      });
    const out = new Uint8Array(Math.max(0, size - this.position));
    let done = 0;
    while (done < out.length) {
      const n = await this.fs.read(
        this.fd,
        out.subarray(done, Math.min(out.length, done + READ_STEP)),
        this.position,
      );
      if (n === 0) break;
      done += n;
      this.position += n;
    }
    return done === out.length ? out : out.slice(0, done);
  }

  async stat(): Promise<Stats> {
    this.check("fstat");
    return new Stats(await this.fs.fstat(this.fd));
  }

  async truncate(len = 0): Promise<void> {
    this.check("ftruncate", "write");
    await this.fs.ftruncate(this.fd, len);
  }

  /** The whole filesystem is synced: ext2 here keeps no per-file dirty lists. */
  async sync(): Promise<void> {
    this.check("fsync");
    await this.fs.sync();
  }

  async datasync(): Promise<void> {
    return this.sync();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fs.close(this.fd);
  }
}
