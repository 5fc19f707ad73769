/**
 * A raw disk image on the host as blkback's BlockStore. Reads and writes are positional and
 * vectored (preadv/pwritev through libuv's thread pool), straight between the file and the
 * frontend's granted pages. Flush is fdatasync. Discard punches a hole in the file
 * (fallocate(PUNCH_HOLE), through pvkit's native addon).
 */
import { type FileHandle, open } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { BlockStore } from "@pvkit/drivers/blk/store";

/** The addon's one function blkback uses (hypervisor/native/shm.cc). */
type PunchHole = (fd: number, offset: number, length: number) => void;

let punch: PunchHole | null | undefined;

/** fallocate(PUNCH_HOLE) from pvkit's addon, or null when it is not built. */
function punchHole(): PunchHole | null {
  if (punch !== undefined) return punch;
  try {
    const path = fileURLToPath(
      new URL("../../../../hypervisor/native/build/Release/pvkit_shm.node", import.meta.url),
    );
    punch = (createRequire(import.meta.url)(path) as { punchHole: PunchHole }).punchHole;
  } catch {
    punch = null;
  }
  return punch;
}

export async function openFileStore(path: string, readonly: boolean): Promise<BlockStore> {
  let fh: FileHandle;
  try {
    fh = await open(path, readonly ? "r" : "r+");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? `permission denied (opening it ${readonly ? "read-only" : "read-write"})`
          : code === "EISDIR"
            ? "is a directory"
            : (e as Error).message,
    );
  }
  const st = await fh.stat();
  if (!st.isFile() && !st.isBlockDevice()) {
    await fh.close();
    throw new Error("not a regular file");
  }
  // Most Linux file systems punch holes (ext4, xfs, btrfs, tmpfs); where one cannot, a discard
  // fails and the frontend gets BLKIF_RSP_ERROR for it (discard is advice: nothing is lost).
  const discards = !readonly && st.isFile() && punchHole() !== null;
  return {
    bytes: st.size - (st.size % 512),
    readonly,
    discards,
    readv: (bufs, position) =>
      whole(bufs, position, (b, p) => fh.readv(b, p).then((r) => r.bytesRead), "read"),
    writev: (bufs, position) =>
      whole(bufs, position, (b, p) => fh.writev(b, p).then((r) => r.bytesWritten), "write"),
    flush: () => fh.datasync(),
    async discard(position, length) {
      punchHole()!(fh.fd, position, length);
    },
    close: () => fh.close(),
  };
}

/** Repeats a vectored transfer until every byte moved (a short one is legal), or fails on EOF. */
async function whole(
  bufs: Uint8Array[],
  position: number,
  op: (bufs: Uint8Array[], position: number) => Promise<number>,
  what: string,
): Promise<void> {
  let rest = [...bufs];
  let pos = position;
  while (rest.length > 0) {
    const n = await op(rest, pos);
    if (n === 0) throw new Error(`${what} at byte ${pos}: the image ended (was it truncated?)`);
    pos += n;
    let skip = n;
    while (rest.length > 0 && skip >= rest[0]!.length) skip -= rest.shift()!.length;
    if (skip > 0) rest[0] = rest[0]!.subarray(skip);
  }
}
