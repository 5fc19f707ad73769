/**
 * A guest that exercises its disk through k.blk: reads the whole of xvda and checksums it, writes
 * three patterns (one sector, 64 KiB, 1 MiB crossing many requests), flushes, reads them back, and
 * prints one JSON line with what it saw. The test compares that with the image file on the host.
 * The whole-disk read runs twice — into a plain buffer (copied through blkfront's pool) and into the
 * disk's shared buffer (dom0 reads straight into it) — and a fourth pattern is written from one.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

/** FNV-1a, 32 bits: the test computes the same over the file. */
function fnv(bytes: Uint8Array, h = 0x811c9dc5): number {
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  return h;
}

export default async function main(k: KernelHandle): Promise<void> {
  const disks = k.blk.list();
  const xvda = k.blk.get("xvda");
  const checksum = async (chunk: Uint8Array) => {
    let sum = 0x811c9dc5;
    for (let s = 0; s < xvda.sectors; s += chunk.length / 512) {
      const n = Math.min(chunk.length / 512, xvda.sectors - s);
      const buf = chunk.subarray(0, n * 512);
      await xvda.read(s, buf);
      sum = fnv(buf, sum);
    }
    return sum;
  };
  const sum = await checksum(new Uint8Array(256 * 1024));
  const shared = xvda.buffer(256 * 1024);
  const sharedSum = await checksum(shared);
  // Guest memory (a SharedArrayBuffer of the domain's pages), not a buffer of the JS heap.
  const sharedIsGuestMemory = shared.buffer instanceof SharedArrayBuffer;
  const out = xvda.buffer(128 * 1024).fill(0xc3);
  await xvda.write(2000, out);
  const writes: [number, number, number][] = [
    [0, 512, 0x5a],
    [1000, 64 * 1024, 0xa5],
    [xvda.sectors - 2048, 1024 * 1024, 0x3c],
  ];
  await Promise.all(writes.map(([s, len, v]) => xvda.write(s, new Uint8Array(len).fill(v))));
  await xvda.flush();
  const readBack = await Promise.all(
    writes.map(async ([s, len, v]) => {
      const b = new Uint8Array(len);
      await xvda.read(s, b);
      return b.every((x) => x === v);
    }),
  );
  let pastEnd = "";
  try {
    await xvda.read(xvda.sectors, new Uint8Array(512));
  } catch (e) {
    pastEnd = String(e);
  }
  const back = xvda.buffer(128 * 1024);
  await xvda.read(2000, back);
  const sharedBack = back.every((x) => x === 0xc3);
  k.print(
    JSON.stringify({
      phase: "done",
      disks,
      sum,
      sharedSum,
      sharedIsGuestMemory,
      sharedBack,
      readBack,
      pastEnd,
    }),
  );
}
