/**
 * pvkit's ext2 against Debian's e2fsprogs, on real image files: images mkfs.ext2 -d makes (1 KiB and
 * 4 KiB blocks, Debian's default features) read back byte-exact; after our writes, e2fsck -fn finds
 * them clean and debugfs reads our data; random operation sequences checked against a model stay
 * clean; our own mkfs's images pass e2fsck and dumpe2fs; running out of space leaves a clean image.
 */
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { writeFileSync, chmodSync, truncateSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { FsError } from "@pvkit/guest-kernel/fs/errors";
import { mkfsExt2, mountExt2 } from "@pvkit/guest-kernel/fs/ext2/index";
import { FsApi } from "@pvkit/guest-kernel/fs/fs-api";
import { FileBlockDevice } from "@pvkit/hypervisor/cli/file-block-device";
import {
  debugfsCat,
  dumpe2fsHeader,
  e2fsck,
  e2fsprogsMissing,
  indexDirectories,
  mkfsExt2Tool,
} from "./e2fsprogs.ts";
import { Model, opArb, type Node, type Op } from "./ext2-model.ts";

const missing = e2fsprogsMissing();
if (missing) console.warn(`skipping ext2 conformance with e2fsprogs: ${missing}`);
const suite = missing ? describe.skip : describe;

const work = mkdtempSync(join(tmpdir(), "pvkit-ext2-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const image = () => join(work, `img${counter++}.ext2`);
const now = () => Math.floor(Date.now() / 1000);

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + seed + (i >> 12)) & 0xff;
  return out;
}

/** A host folder with what the kernel must read: nesting, indirect blocks, a hole, both symlink kinds. */
function makeFolder(dir: string, blockSize: number): void {
  mkdirSync(join(dir, "etc/deep/er"), { recursive: true });
  mkdirSync(join(dir, "empty"));
  mkdirSync(join(dir, "many"));
  writeFileSync(join(dir, "etc/hostname"), "pvkit-guest\n");
  writeFileSync(join(dir, "etc/deep/indirect.bin"), bytes(20 * blockSize, 1)); // > 12 blocks
  writeFileSync(join(dir, "etc/deep/er/double.bin"), bytes(300 * blockSize + 123, 2)); // > 268 blocks
  writeFileSync(join(dir, "secret"), "0600\n");
  chmodSync(join(dir, "secret"), 0o600);
  writeFileSync(join(dir, "sparse"), "start");
  truncateSync(join(dir, "sparse"), 3 * 1024 * 1024);
  appendFileSync(join(dir, "sparse"), "end");
  symlinkSync("etc/hostname", join(dir, "fast-link"));
  symlinkSync("/etc/deep/" + "../deep/".repeat(10) + "indirect.bin", join(dir, "slow-link"));
  for (let i = 0; i < 150; i++) writeFileSync(join(dir, "many", `entry-${i}`), `${i}\n`);
}

/** Compares our view of `path` in the image with the host folder, recursively. */
async function compareTree(fs: FsApi, host: string, path: string): Promise<number> {
  let checked = 0;
  const names = readdirSync(host).sort();
  expect((await fs.readdir(path)).filter((n) => n !== "lost+found").sort()).toEqual(names);
  for (const name of names) {
    const h = join(host, name);
    const p = (path === "/" ? "" : path) + "/" + name;
    const hs = lstatSync(h);
    const ours = await fs.lstat(p);
    expect(ours.mode, p).toBe(hs.mode);
    if (hs.isSymbolicLink()) expect(await fs.readlink(p)).toBe(readlinkSync(h));
    else if (hs.isDirectory()) checked += await compareTree(fs, h, p);
    else {
      expect(ours.size, p).toBe(hs.size);
      expect(same(await fs.readFile(p), readFileSync(h)), p).toBe(true);
    }
    checked++;
  }
  return checked;
}

async function mount(file: string) {
  const dev = await FileBlockDevice.open(file);
  const ext = await mountExt2(dev, { now, cacheBytes: 256 * 1024 });
  return { dev, ext, fs: new FsApi(ext) };
}

async function expectClean(file: string): Promise<void> {
  const r = await e2fsck(file);
  expect(r.stdout + r.stderr, "e2fsck -fn").not.toMatch(/Fix\?|Clear\?|Salvage\?|Connect to|error/i);
  expect(r.code).toBe(0);
}

suite("ext2 with e2fsprogs", () => {
  for (const blockSize of [1024, 4096]) {
    it(`reads a mkfs.ext2 -d image (${blockSize}-byte blocks) byte-exact, then writes it so e2fsck finds it clean`, async () => {
      const folder = join(work, `folder${blockSize}`);
      makeFolder(folder, blockSize);
      const file = image();
      await mkfsExt2Tool(file, "32M", ["-b", String(blockSize), "-d", folder]);
      await indexDirectories(file); // /many becomes an htree directory (dir_index)
      const { dev, ext, fs } = await mount(file);
      expect(ext.readonly).toBe(false);
      expect(await compareTree(fs, folder, "/")).toBeGreaterThan(160);
      expect((await fs.stat("/sparse")).blocks).toBeLessThan(8 * (blockSize / 512));

      // Changes of every kind, including in the indexed directory.
      await fs.writeFile("/etc/hostname", "changed\n");
      await fs.appendFile("/etc/deep/indirect.bin", bytes(5000, 9));
      await fs.truncate("/etc/deep/er/double.bin", 100 * blockSize + 7);
      await fs.writeFile("/new-big", bytes(400 * blockSize, 3));
      await fs.mkdir("/new/dir/tree", { recursive: true });
      await fs.rename("/etc/deep", "/new/dir/moved");
      await fs.rename("/secret", "/new/secret");
      for (let i = 0; i < 150; i += 2) await fs.unlink(`/many/entry-${i}`);
      for (let i = 0; i < 40; i++) await fs.writeFile(`/many/added-${i}`, `a${i}`);
      await fs.rm("/empty", { recursive: true });
      await fs.symlink("x".repeat(200), "/new/slow");
      await fs.unlink("/fast-link");
      await ext.unmount();
      await dev.close();

      await expectClean(file);
      expect(new TextDecoder().decode(await debugfsCat(file, "/etc/hostname"))).toBe("changed\n");
      const appended = await debugfsCat(file, "/new/dir/moved/indirect.bin");
      expect(same(appended.subarray(20 * blockSize), bytes(5000, 9))).toBe(true);
      expect(same(await debugfsCat(file, "/new-big"), bytes(400 * blockSize, 3))).toBe(true);
      expect((await debugfsCat(file, "/new/dir/moved/er/double.bin")).length).toBe(100 * blockSize + 7);
      expect(new TextDecoder().decode(await debugfsCat(file, "/many/added-39"))).toBe("a39");
    });
  }

  it("stays e2fsck-clean and agrees with a model over random operation sequences", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 30 }), async (ops) => {
        const file = image();
        await mkfsExt2Tool(file, "16M", ["-b", "1024"]);
        const { dev, ext, fs } = await mount(file);
        const model = new Model();
        try {
          for (const op of ops) {
            const want = model.apply(op);
            const got = await apply(fs, op).then(
              () => undefined,
              (e: unknown) => {
                if (!(e instanceof FsError)) throw e;
                return e.code;
              },
            );
            expect(got, JSON.stringify(describeOp(op))).toBe(want);
          }
          await expectTree(fs, model);
        } finally {
          await ext.unmount();
          await dev.close();
        }
        await expectClean(file);
        rmSync(file);
      }),
      {
        numRuns: Number(process.env.PVKIT_EXT2_MODEL_RUNS ?? 40),
        seed: process.env.PVKIT_EXT2_MODEL_RUNS ? undefined : 7,
      },
    );
  });

  for (const blockSize of [1024, 4096]) {
    it(`formats with our mkfs (${blockSize}-byte blocks) so that e2fsck and dumpe2fs accept it`, async () => {
      const file = image();
      writeFileSync(file, "");
      truncateSync(file, 64 * 1024 * 1024);
      const dev = await FileBlockDevice.open(file);
      const made = await mkfsExt2(dev, {
        now,
        random: (b) => b.set(bytes(b.length, 5)),
        blockSize,
        label: "pvkit-root",
      });
      expect(made.groups).toBe(blockSize === 1024 ? 8 : 1);
      await expectClean(file);
      const ext = await mountExt2(dev, { now });
      const fs = new FsApi(ext);
      await fs.mkdir("/srv/www", { recursive: true });
      await fs.writeFile("/srv/www/index.html", bytes(70_000, 4));
      await ext.unmount();
      await dev.close();
      await expectClean(file);
      const header = (await dumpe2fsHeader(file)).stdout;
      expect(header).toMatch(/Filesystem volume name:\s+pvkit-root/);
      expect(header).toMatch(/Filesystem features:\s+filetype sparse_super large_file/);
      expect(header).toMatch(new RegExp(`Block size:\\s+${blockSize}`));
      expect(header).toMatch(/Filesystem state:\s+clean/);
      expect(header).toMatch(new RegExp(`Filesystem UUID:\\s+${made.uuid}`));
      expect(same(await debugfsCat(file, "/srv/www/index.html"), bytes(70_000, 4))).toBe(true);
    });
  }

  it("runs out of space and inodes with ENOSPC and leaves the image clean", async () => {
    const file = image();
    await mkfsExt2Tool(file, "2M", ["-b", "1024", "-N", "64"]);
    const { dev, ext, fs } = await mount(file);
    await expect(fs.writeFile("/huge", bytes(4 * 1024 * 1024, 1))).rejects.toMatchObject({ code: "ENOSPC" });
    await fs.unlink("/huge");
    await fs.writeFile("/half", bytes(700 * 1024, 2));
    let made = 0;
    const err = await (async () => {
      for (;;) {
        await fs.writeFile(`/f${made}`, bytes(made % 3 === 0 ? 30_000 : 10, made));
        made++;
      }
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ENOSPC" });
    await expect(fs.mkdir("/one-more-dir")).rejects.toMatchObject({ code: "ENOSPC" });
    await ext.unmount();
    await dev.close();
    await expectClean(file);
  });
});

function apply(fs: FsApi, o: Op): Promise<unknown> {
  switch (o.op) {
    case "writeFile":
      return fs.writeFile(o.path, o.data);
    case "appendFile":
      return fs.appendFile(o.path, o.data);
    case "truncate":
      return fs.truncate(o.path, o.len);
    case "mkdir":
      return fs.mkdir(o.path);
    case "unlink":
      return fs.unlink(o.path);
    case "rmdir":
      return fs.rmdir(o.path);
    case "rename":
      return fs.rename(o.from, o.to);
    case "symlink":
      return fs.symlink(o.target, o.path);
  }
}

/** An op as a failure message shows it (data as its length). */
const describeOp = (o: Op) => ("data" in o ? { ...o, data: o.data.length } : o);

/** The filesystem holds exactly what the model does. */
async function expectTree(fs: FsApi, model: Model): Promise<void> {
  const seen = new Map<string, Node>();
  const walk = async (dir: string) => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const p = (dir === "/" ? "" : dir) + "/" + e.name;
      if (p === "/lost+found") continue;
      if (e.isDirectory()) {
        seen.set(p, { kind: "dir" });
        await walk(p);
      } else if (e.isSymbolicLink()) seen.set(p, { kind: "link", target: await fs.readlink(p) });
      else seen.set(p, { kind: "file", data: await fs.readFile(p) });
    }
  };
  await walk("/");
  const want = new Map([...model.nodes].filter(([p]) => p !== "/"));
  expect([...seen.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [p, n] of want) {
    const s = seen.get(p)!;
    expect(s.kind, p).toBe(n.kind);
    if (n.kind === "file" && s.kind === "file") expect(same(s.data, n.data), p).toBe(true);
    if (n.kind === "link" && s.kind === "link") expect(s.target).toBe(n.target);
  }
}
