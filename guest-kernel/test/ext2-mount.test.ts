/**
 * Mounting: features refused by name, read-only mounts, the superblock's mounted/clean state; and
 * corrupt images (random metadata bytes changed, with fast-check): mounting and reading either work or
 * fail with an FsError, never hang, never throw anything else, never write outside the filesystem.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FsError } from "../src/fs/errors.ts";
import { mountExt2 } from "../src/fs/ext2/index.ts";
import { FsApi } from "../src/fs/fs-api.ts";
import { MemoryBlockDevice } from "./helpers/memory-block-device.ts";
import { freshFs, pattern } from "./helpers/ext2-fixture.ts";

const SB = 1024;
const now = () => 1_700_000_000;
const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);

/** A copy of a device whose superblock is changed by `edit`. */
function withSuperblock(
  dev: MemoryBlockDevice,
  edit: (sb: DataView) => void,
  readonly = false,
): MemoryBlockDevice {
  const copy = new MemoryBlockDevice(dev.bytes.length, "xvdb", readonly);
  copy.bytes.set(dev.bytes);
  edit(new DataView(copy.bytes.buffer, SB, 1024));
  return copy;
}

describe("ext2 mount", () => {
  it("refuses incompat features it does not implement, naming them", async () => {
    const f = await freshFs();
    await f.ext.unmount();
    const dev = withSuperblock(f.dev, (sb) => sb.setUint32(96, sb.getUint32(96, true) | 0x40 | 0x80, true));
    await expect(mountExt2(dev, { now })).rejects.toMatchObject({
      code: "EINVAL",
      message: expect.stringContaining("incompatible features this ext2 does not support: extent, 64bit"),
    });
    const notExt2 = new MemoryBlockDevice(1024 * 1024);
    await expect(mountExt2(notExt2, { now })).rejects.toMatchObject({
      code: "EINVAL",
      message: expect.stringContaining("no ext2 superblock"),
    });
  });

  it("mounts read-only for an unknown ro_compat feature, a read-only device, or when asked", async () => {
    const f = await freshFs();
    await f.fs.writeFile("/keep", "kept");
    await f.ext.unmount();
    const cases = [
      withSuperblock(f.dev, (sb) => sb.setUint32(100, sb.getUint32(100, true) | 0x400, true)),
      withSuperblock(f.dev, () => {}, true),
    ];
    for (const dev of cases) {
      const ext = await mountExt2(dev, { now });
      expect(ext.readonly).toBe(true);
      const fs = new FsApi(ext);
      expect(await fs.readFile("/keep", "utf8")).toBe("kept");
      await expect(fs.writeFile("/new", "x")).rejects.toMatchObject({ code: "EROFS", syscall: "open" });
      await expect(fs.mkdir("/d")).rejects.toMatchObject({ code: "EROFS" });
      await ext.unmount();
    }
    expect((await mountExt2(cases[1]!, { now })).vol.readonlyReason).toMatch(/read-only/);
    expect((await mountExt2(f.dev, { now, readonly: true })).readonly).toBe(true);
  });

  it("marks the superblock not clean while mounted and clean after unmount, counting mounts", async () => {
    const f = await freshFs();
    const sb = () => f.dev.bytes.subarray(SB, SB + 1024);
    expect(u16(sb(), 58) & 1).toBe(0); // mounted: not VALID
    expect(u16(sb(), 52)).toBe(1);
    await f.fs.writeFile("/x", "x");
    await f.fs.sync();
    expect(u16(sb(), 58) & 1).toBe(0);
    await f.ext.unmount();
    expect(u16(sb(), 58) & 1).toBe(1);
  });
});

describe("ext2 on corrupt images", () => {
  it("mounts and reads or fails with an FsError, whatever metadata bytes are changed", async () => {
    // A populated 1 MiB image: metadata, directories, an indirect and a double indirect file, symlinks.
    const f = await freshFs({ mib: 1 });
    await f.fs.mkdir("/d/e", { recursive: true });
    for (let i = 0; i < 20; i++) await f.fs.writeFile(`/d/file${i}`, pattern(100 + i * 50, i));
    await f.fs.writeFile("/d/e/ind", pattern(40 * 1024));
    await f.fs.writeFile("/d/e/dind", pattern(300 * 1024, 7));
    await f.fs.symlink("/d/e/ind", "/fast");
    await f.fs.symlink("/d/" + "x".repeat(80), "/slow");
    await f.ext.unmount();
    const image = f.dev.bytes.slice();
    const metadataEnd = 120 * 1024; // superblock, GDT, bitmaps, inode table, first directory blocks

    // PVKIT_EXT2_FUZZ_RUNS=n runs n random cases instead of the fixed 150 (a longer hunt).
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            at: fc.integer({ min: 1024, max: metadataEnd - 1 }),
            value: fc.integer({ min: 0, max: 255 }),
          }),
          {
            minLength: 1,
            maxLength: 8,
          },
        ),
        async (changes) => {
          // Room past the filesystem's end: a write landing there would be a write outside it.
          const dev = new MemoryBlockDevice(image.length + 64 * 1024);
          dev.bytes.set(image);
          for (const c of changes) dev.bytes[c.at] = c.value;
          const fsEnd = new DataView(dev.bytes.buffer).getUint32(SB + 4, true) * 1024;
          try {
            const ext = await mountExt2(dev, { now, cacheBytes: 64 * 1024 });
            const fs = new FsApi(ext);
            await exercise(fs);
            await ext.unmount();
          } catch (e) {
            if (!(e instanceof FsError)) throw e;
          }
          const outside = dev.ops("write").filter((w) => (w.sector + w.sectors) * 512 > fsEnd);
          expect(outside).toEqual([]);
        },
      ),
      {
        numRuns: Number(process.env.PVKIT_EXT2_FUZZ_RUNS ?? 150),
        seed: process.env.PVKIT_EXT2_FUZZ_RUNS ? undefined : 42,
      },
    );
  });
});

/** Walks the tree reading at most 64 KiB of each file, then makes a few changes; errors are fine. */
async function exercise(fs: FsApi): Promise<void> {
  const tolerate = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
    }
  };
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 8) return;
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = (dir === "/" ? "" : dir) + "/" + e.name;
      await tolerate(fs.lstat(p));
      if (e.isDirectory()) await walk(p, depth + 1);
      else if (e.isSymbolicLink()) await tolerate(fs.readlink(p));
      else
        await tolerate(
          (async () => {
            const h = await fs.open(p, "r");
            try {
              await h.read(new Uint8Array(64 * 1024), 0, 64 * 1024, 0);
            } finally {
              await h.close();
            }
          })(),
        );
    }
  };
  await walk("/", 0);
  await tolerate(fs.writeFile("/d/new", pattern(20 * 1024)));
  await tolerate(fs.rename("/d/e", "/moved"));
  await tolerate(fs.rm("/d", { recursive: true }));
  await tolerate(fs.truncate("/moved/dind", 10));
}
