/**
 * blkback's file store over a real image file: a read takes what the host's page cache holds on
 * dom0's thread (preadv2 RWF_NOWAIT through pvkit's addon) and only the rest through libuv's thread
 * pool. Views of any sector-multiple size are filled byte-exact, and a read that runs off the end of
 * a file truncated under it copies the cached part, then fails naming the first byte it could not
 * read — so the split between the two paths lands on the right byte.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openFileStore } from "../src/dom0/blkback/file-store.ts";

const dir = mkdtempSync(join(tmpdir(), "pvkit-file-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function image(name: string, bytes: number): string {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 131 + (i >> 12)) & 0xff;
  const path = join(dir, name);
  writeFileSync(path, data); // just written: in the page cache
  return path;
}

/** Views over one shared buffer, as blkback's are over the frontend's granted pages. */
function views(sizes: number[]): Uint8Array[] {
  const sab = new SharedArrayBuffer(sizes.reduce((a, b) => a + b, 0));
  let at = 0;
  return sizes.map((n) => new Uint8Array(sab, (at += n) - n, n));
}

describe("blkback's file store", () => {
  it("fills views of every sector-multiple size byte-exact from a cached image", async () => {
    const path = image("a.img", 2 << 20);
    const store = await openFileStore(path, true);
    const file = readFileSync(path);
    for (const [pos, sizes] of [
      [0, [4096]],
      [512, [512, 4096, 1536]],
      [12288, Array.from({ length: 256 }, () => 4096)],
      [(2 << 20) - 1024, [512, 512]],
    ] as [number, number[]][]) {
      const vs = views(sizes);
      await store.readv(vs, pos);
      let at = pos;
      for (const v of vs) {
        expect(Buffer.compare(v, file.subarray(at, at + v.length))).toBe(0);
        at += v.length;
      }
    }
    await store.close();
  });

  it("copies what is cached, then fails at the first byte past a truncated end", async () => {
    const path = image("b.img", 64 << 10);
    const store = await openFileStore(path, false);
    truncateSync(path, 40 << 10); // the store still believes in 64 KiB
    const vs = views([4096, 4096]);
    const read = store.readv(vs, 36 << 10);
    await expect(read).rejects.toThrow(/read at byte 40960: the image ended/);
    expect(Buffer.compare(vs[0]!, readFileSync(path).subarray(36 << 10, 40 << 10))).toBe(0);
    await store.close();
  });
});
