/**
 * A BlockDevice over a regular file on the host (a disk image), with positional reads and writes:
 * what `pvkit mkfs` formats and the tests mount. flush() is fsync(2); discard() does nothing.
 * (The hypervisor package reaches the guest kernel's BlockDevice by path, as host.ts reaches dom0.)
 */
import { open, type FileHandle } from "node:fs/promises";
import { checkRequest, SECTOR_SIZE, type BlockDevice } from "../../../guest-kernel/src/block/device.ts";

export class FileBlockDevice implements BlockDevice {
  readonly sectorSize = SECTOR_SIZE;
  readonly flushes = true;
  readonly discards = false;

  private constructor(
    private readonly fh: FileHandle,
    readonly name: string,
    readonly sectors: number,
    readonly readonly: boolean,
  ) {}

  /** Opens `path` (which must exist); its size, rounded down to whole sectors, is the device's. */
  static async open(
    path: string,
    opts: { readonly?: boolean; name?: string } = {},
  ): Promise<FileBlockDevice> {
    const fh = await open(path, opts.readonly ? "r" : "r+");
    const { size } = await fh.stat();
    return new FileBlockDevice(fh, opts.name ?? path, Math.floor(size / SECTOR_SIZE), opts.readonly ?? false);
  }

  async read(sector: number, buf: Uint8Array): Promise<void> {
    checkRequest(this, "read", sector, buf.length);
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.fh.read(buf, done, buf.length - done, sector * SECTOR_SIZE + done);
      if (bytesRead === 0) {
        buf.fill(0, done); // past the file's end (it shrank): reads as zeros, as a sparse tail would
        return;
      }
      done += bytesRead;
    }
  }

  async write(sector: number, data: Uint8Array): Promise<void> {
    checkRequest(this, "write", sector, data.length);
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(
        data,
        done,
        data.length - done,
        sector * SECTOR_SIZE + done,
      );
      done += bytesWritten;
    }
  }

  flush(): Promise<void> {
    return this.fh.sync();
  }

  async discard(sector: number, count: number): Promise<void> {
    checkRequest(this, "discard", sector, count * SECTOR_SIZE);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}
