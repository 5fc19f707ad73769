/**
 * `pvkit mkfs` as a user runs it: a real process making a real image file from a folder, which then
 * mounts (with the guest kernel's ext2) holding the folder's files, directories, symlinks, hard links,
 * modes and holes — and which e2fsck -fn calls clean, where e2fsprogs is installed. Bad input is one
 * line, `pvkit: mkfs: <image>: <why>`, and leaves no image behind.
 */
import { execFile } from "node:child_process";
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mountExt2 } from "@pvkit/guest-kernel/fs/ext2/index";
import { FsApi } from "@pvkit/guest-kernel/fs/fs-api";
import { FileBlockDevice } from "@pvkit/hypervisor/cli/file-block-device";
import { e2fsck, e2fsprogsMissing } from "../conformance/e2fsprogs.ts";

const REPO = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "pvkit-mkfs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pvkit(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO, "node_modules/tsx/dist/cli.mjs"), join(REPO, "hypervisor/src/cli/main.ts"), ...args],
      { cwd: dir, timeout: 60_000 },
      (e, out, err) => resolve({ code: e ? (typeof e.code === "number" ? e.code : -1) : 0, out, err }),
    );
  });
}

describe("pvkit mkfs", () => {
  it("makes an image from a folder that mounts with everything in it", async () => {
    const src = join(dir, "rootfs");
    mkdirSync(join(src, "etc/init"), { recursive: true });
    writeFileSync(join(src, "etc/hostname"), "guest\n");
    writeFileSync(
      join(src, "etc/init/big"),
      new Uint8Array(200_000).map((_, i) => i & 0xff),
    );
    chmodSync(join(src, "etc/init/big"), 0o750);
    linkSync(join(src, "etc/hostname"), join(src, "etc/hostname.again"));
    symlinkSync("/etc/hostname", join(src, "link"));
    writeFileSync(join(src, "holey"), "a");
    truncateSync(join(src, "holey"), 5 * 1024 * 1024);
    const image = join(dir, "disk.img");

    const r = await pvkit("mkfs", image, "--size", "24", "-d", src);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^Formatted .*disk\.img: ext2, 24576 blocks of 1024 bytes, \d+ inodes, UUID [0-9a-f-]{36}\n/,
    );
    expect(r.out).toMatch(/Copied 7 files, directories and links from/);
    expect(statSync(image).size).toBe(24 * 1024 * 1024);

    const dev = await FileBlockDevice.open(image, { readonly: true });
    const ext = await mountExt2(dev, { now: () => Math.floor(Date.now() / 1000) });
    const fs = new FsApi(ext);
    expect(await fs.readFile("/etc/hostname", "utf8")).toBe("guest\n");
    expect((await fs.readFile("/etc/init/big")).every((b, i) => b === (i & 0xff))).toBe(true);
    expect((await fs.stat("/etc/init/big")).mode).toBe(0o100750);
    expect((await fs.stat("/etc/hostname.again")).ino).toBe((await fs.stat("/etc/hostname")).ino);
    expect((await fs.stat("/etc/hostname")).nlink).toBe(2);
    expect(await fs.readlink("/link")).toBe("/etc/hostname");
    expect((await fs.stat("/holey")).size).toBe(5 * 1024 * 1024);
    expect((await fs.stat("/holey")).blocks).toBe(2); // one block: the rest stayed a hole
    expect((await fs.stat("/etc/hostname")).mtimeMs).toBe(
      Math.floor(statSync(join(src, "etc/hostname")).mtimeMs / 1000) * 1000,
    );
    await ext.unmount();
    await dev.close();
    if (!e2fsprogsMissing()) expect((await e2fsck(image)).code).toBe(0);
  });

  it("formats an existing image in place, extending it to --size", async () => {
    const image = join(dir, "grow.img");
    writeFileSync(image, new Uint8Array(1024 * 1024).fill(0xff)); // old contents everywhere
    const r = await pvkit("mkfs", image, "--size", "4", "--block-size", "4096");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/1024 blocks of 4096 bytes/);
    if (!e2fsprogsMissing()) expect((await e2fsck(image)).code).toBe(0);
  });

  it("fails in one line naming what is wrong, touching nothing", async () => {
    const cases: [string[], RegExp][] = [
      [["mkfs", "new.img"], /^pvkit: mkfs: new\.img: no such file \(give --size to create it\)\n$/],
      [["mkfs", "new.img", "--size", "lots"], /^pvkit: mkfs: new\.img: --size "lots" is not a size/],
      [
        ["mkfs", "new.img", "--size", "8", "--block-size", "512"],
        /--block-size "512" is not 1024, 2048 or 4096/,
      ],
      [
        ["mkfs", "new.img", "--size", "8", "-d", "nowhere"],
        /^pvkit: mkfs: new\.img: nowhere: no such folder\n$/,
      ],
      [["mkfs", dir, "--size", "8"], /: not a regular file\n$/],
      [["mkfs", "grow.img", "--size", "2"], /larger than 2 MiB; pvkit mkfs does not shrink an image/],
    ];
    for (const [args, want] of cases) {
      const r = await pvkit(...args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.err, args.join(" ")).toMatch(want);
      expect(r.err.split("\n")).toHaveLength(2);
    }
    expect(existsSync(join(dir, "new.img"))).toBe(false);
  });

  it("says the image is full in one line when the folder does not fit", async () => {
    const src = join(dir, "too-big");
    mkdirSync(src);
    writeFileSync(join(src, "blob"), new Uint8Array(3 * 1024 * 1024).fill(1));
    const r = await pvkit("mkfs", join(dir, "small.img"), "--size", "2", "-d", src);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^pvkit: mkfs: .*small\.img: no space left on the device \(copying blob\)\n$/);
  });
});
