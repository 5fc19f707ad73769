/**
 * ext2 names: directories and their link counts, symlinks (fast and slow, loops), rename in all its
 * POSIX cases, hard links, and node-style errors naming the call and path.
 */
import { describe, expect, it } from "vitest";
import { freshFs } from "./helpers/ext2-fixture.ts";

describe("ext2 directories", () => {
  it("makes, lists and removes directories, keeping link counts as e2fsck counts them", async () => {
    const f = await freshFs();
    expect((await f.fs.stat("/")).nlink).toBe(3); // ".", "..", lost+found's ".."
    await f.fs.mkdir("/a");
    await f.fs.mkdir("/a/b");
    await f.fs.writeFile("/a/file", "x");
    expect((await f.fs.stat("/")).nlink).toBe(4);
    expect((await f.fs.stat("/a")).nlink).toBe(3);
    expect((await f.fs.stat("/a/b")).nlink).toBe(2);
    const entries = await f.fs.readdir("/a", { withFileTypes: true });
    expect(entries.map((e) => [e.name, e.isDirectory(), e.isFile()])).toEqual([
      ["b", true, false],
      ["file", false, true],
    ]);
    expect((await f.fs.stat("/a/b/..")).ino).toBe((await f.fs.stat("/a")).ino);
    await expect(f.fs.rmdir("/a")).rejects.toMatchObject({
      code: "ENOTEMPTY",
      message: "ENOTEMPTY: directory not empty, rmdir '/a'",
    });
    await expect(f.fs.rmdir("/a/file")).rejects.toMatchObject({ code: "ENOTDIR" });
    await expect(f.fs.rmdir("/")).rejects.toMatchObject({ code: "EBUSY" });
    await f.fs.rmdir("/a/b");
    expect((await f.fs.stat("/a")).nlink).toBe(2);
    await f.fs.rm("/a", { recursive: true });
    expect((await f.fs.stat("/")).nlink).toBe(3);
    expect(await f.fs.readdir("/")).toEqual(["lost+found"]);
  });

  it("grows a directory over many blocks, reuses freed entries, and persists it", async () => {
    let f = await freshFs();
    await f.fs.mkdir("/many");
    const names = Array.from({ length: 300 }, (_, i) => `entry-with-a-long-name-${i}`);
    for (const n of names) await f.fs.writeFile(`/many/${n}`, n);
    const size = (await f.fs.stat("/many")).size;
    expect(size).toBeGreaterThan(8 * 1024);
    for (const n of names.filter((_, i) => i % 3 === 0)) await f.fs.unlink(`/many/${n}`);
    for (let i = 0; i < 100; i++) await f.fs.writeFile(`/many/new-${i}`, "n");
    expect((await f.fs.stat("/many")).size).toBe(size); // freed records were reused
    f = await f.remount();
    const listed = new Set(await f.fs.readdir("/many"));
    expect(listed.size).toBe(300);
    expect(listed.has("entry-with-a-long-name-1")).toBe(true);
    expect(listed.has("entry-with-a-long-name-3")).toBe(false);
    expect(await f.fs.readFile("/many/entry-with-a-long-name-299", "utf8")).toBe(
      "entry-with-a-long-name-299",
    );
  });

  it("makes parents with mkdir -p and returns the first one made", async () => {
    const f = await freshFs();
    await f.fs.mkdir("/p");
    expect(await f.fs.mkdir("/p/q/r/s", { recursive: true })).toBe("/p/q");
    expect(await f.fs.mkdir("/p/q/r/s", { recursive: true })).toBeUndefined();
    await f.fs.writeFile("/p/file", "");
    await expect(f.fs.mkdir("/p/file/x", { recursive: true })).rejects.toMatchObject({ code: "ENOTDIR" });
    await expect(f.fs.mkdir("/p")).rejects.toMatchObject({
      code: "EEXIST",
      message: "EEXIST: file already exists, mkdir '/p'",
    });
  });

  it("rm: files, -r trees, -f on missing paths; a directory without -r is refused", async () => {
    const f = await freshFs();
    await f.fs.mkdir("/t/u/v", { recursive: true });
    await f.fs.writeFile("/t/u/v/w", "w");
    await f.fs.symlink("/t", "/t/u/loop");
    await expect(f.fs.rm("/t")).rejects.toMatchObject({ code: "EISDIR" });
    await f.fs.rm("/t", { recursive: true });
    await expect(f.fs.rm("/t")).rejects.toMatchObject({ code: "ENOENT" });
    await f.fs.rm("/t", { force: true });
    expect(await f.fs.readdir("/")).toEqual(["lost+found"]);
  });
});

describe("ext2 symlinks", () => {
  it("stores short targets in the inode and long ones in a block, and follows both", async () => {
    const f = await freshFs();
    await f.fs.mkdir("/dir");
    await f.fs.writeFile("/dir/target", "found");
    const long = "/dir/" + "../dir/".repeat(12) + "target"; // 95 bytes: a slow symlink
    await f.fs.symlink("/dir/target", "/fast");
    await f.fs.symlink(long, "/slow");
    await f.fs.symlink("target", "/dir/relative");
    await f.fs.symlink("../dir", "/dir/up");
    expect((await f.fs.lstat("/fast")).blocks).toBe(0);
    expect((await f.fs.lstat("/slow")).blocks).toBe(2);
    expect(await f.fs.readlink("/slow")).toBe(long);
    for (const p of ["/fast", "/slow", "/dir/relative", "/dir/up/up/up/target"])
      expect(await f.fs.readFile(p, "utf8")).toBe("found");
    expect((await f.fs.lstat("/fast")).isSymbolicLink()).toBe(true);
    expect((await f.fs.stat("/fast")).isFile()).toBe(true);
    await expect(f.fs.readlink("/dir/target")).rejects.toMatchObject({ code: "EINVAL" });
    const free = (await f.fs.statfs()).bfree;
    await f.fs.unlink("/slow");
    expect((await f.fs.statfs()).bfree).toBe(free + 1);
  });

  it("stops a symlink loop after 40 links with ELOOP", async () => {
    const f = await freshFs();
    await f.fs.symlink("/b", "/a");
    await f.fs.symlink("/a", "/b");
    await expect(f.fs.readFile("/a")).rejects.toMatchObject({
      code: "ELOOP",
      message: "ELOOP: too many symbolic links encountered, open '/a'",
    });
    await f.fs.symlink("/nowhere", "/dangling");
    await expect(f.fs.stat("/dangling")).rejects.toMatchObject({ code: "ENOENT" });
    expect((await f.fs.lstat("/dangling")).isSymbolicLink()).toBe(true);
  });

  it("refuses a target longer than a block allows", async () => {
    const f = await freshFs();
    await expect(f.fs.symlink("x".repeat(1024), "/l")).rejects.toMatchObject({ code: "ENAMETOOLONG" });
    await f.fs.symlink("x".repeat(1023), "/l");
    expect((await f.fs.readlink("/l")).length).toBe(1023);
  });
});

describe("ext2 rename", () => {
  it("moves files within and across directories", async () => {
    const f = await freshFs();
    await f.fs.mkdir("/a");
    await f.fs.mkdir("/b");
    await f.fs.writeFile("/a/x", "x");
    await f.fs.rename("/a/x", "/a/y");
    await f.fs.rename("/a/y", "/b/z");
    expect(await f.fs.readdir("/a")).toEqual([]);
    expect(await f.fs.readFile("/b/z", "utf8")).toBe("x");
  });

  it("moves a directory: its '..' and both parents' link counts follow", async () => {
    const f = await freshFs();
    await f.fs.mkdir("/from/sub", { recursive: true });
    await f.fs.mkdir("/to");
    await f.fs.writeFile("/from/sub/f", "f");
    await f.fs.rename("/from/sub", "/to/sub");
    expect((await f.fs.stat("/from")).nlink).toBe(2);
    expect((await f.fs.stat("/to")).nlink).toBe(3);
    expect((await f.fs.stat("/to/sub/..")).ino).toBe((await f.fs.stat("/to")).ino);
    expect(await f.fs.readFile("/to/sub/f", "utf8")).toBe("f");
  });

  it("replaces a target as POSIX says, freeing the replaced inode", async () => {
    const f = await freshFs();
    await f.fs.writeFile("/src", "new");
    await f.fs.writeFile("/dst", "old");
    const inodes = (await f.fs.statfs()).ffree;
    await f.fs.rename("/src", "/dst");
    expect(await f.fs.readFile("/dst", "utf8")).toBe("new");
    expect((await f.fs.statfs()).ffree).toBe(inodes + 1);

    await f.fs.mkdir("/d1/inner", { recursive: true });
    await f.fs.mkdir("/d2");
    await f.fs.rename("/d1", "/d2"); // over an empty directory
    expect(await f.fs.readdir("/d2")).toEqual(["inner"]);
    expect((await f.fs.stat("/")).nlink).toBe(4);

    await f.fs.mkdir("/full/x", { recursive: true });
    await f.fs.mkdir("/e");
    await expect(f.fs.rename("/e", "/full")).rejects.toMatchObject({ code: "ENOTEMPTY" });
    await expect(f.fs.rename("/e", "/dst")).rejects.toMatchObject({ code: "ENOTDIR" });
    await expect(f.fs.rename("/dst", "/e")).rejects.toMatchObject({ code: "EISDIR" });
    await expect(f.fs.rename("/full", "/full/x/y")).rejects.toMatchObject({
      code: "EINVAL",
      message:
        "EINVAL: invalid argument, rename '/full' -> '/full/x/y' (a directory cannot be moved into itself)",
    });
    await expect(f.fs.rename("/missing", "/m2")).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("does nothing when both names are links to one file", async () => {
    const f = await freshFs();
    await f.fs.writeFile("/one", "1");
    await f.fs.link("/one", "/two");
    expect((await f.fs.stat("/one")).nlink).toBe(2);
    await f.fs.rename("/one", "/two");
    expect((await f.fs.readdir("/")).sort()).toEqual(["lost+found", "one", "two"]);
    await f.fs.unlink("/one");
    expect((await f.fs.stat("/two")).nlink).toBe(1);
    await expect(f.fs.link("/", "/rootlink")).rejects.toMatchObject({ code: "EPERM" });
  });
});

describe("ext2 errors", () => {
  it("names the call and the path as node does", async () => {
    const f = await freshFs();
    await f.fs.writeFile("/file", "x");
    await expect(f.fs.readFile("/a/b")).rejects.toMatchObject({
      code: "ENOENT",
      errno: -2,
      syscall: "open",
      path: "/a/b",
      message: "ENOENT: no such file or directory, open '/a/b'",
    });
    await expect(f.fs.readFile("/file/x")).rejects.toMatchObject({ code: "ENOTDIR" });
    await expect(f.fs.readFile("/")).rejects.toMatchObject({ code: "EISDIR" });
    await expect(f.fs.writeFile("/", "x")).rejects.toMatchObject({ code: "EISDIR" });
    await expect(f.fs.unlink("/lost+found")).rejects.toMatchObject({ code: "EISDIR" });
    await expect(f.fs.readdir("/file")).rejects.toMatchObject({ code: "ENOTDIR", syscall: "scandir" });
    await expect(f.fs.writeFile("/" + "n".repeat(256), "x")).rejects.toMatchObject({ code: "ENAMETOOLONG" });
    await f.fs.writeFile("/" + "n".repeat(255), "x");
    await expect(f.fs.readFile("/bad\0name")).rejects.toMatchObject({ code: "EINVAL" });
    await expect(f.fs.readFile("/file", "latin1" as "utf8")).rejects.toMatchObject({ code: "EINVAL" });
  });

  it("runs out of inodes with ENOSPC", async () => {
    const f = await freshFs({ inodeCount: 32 });
    const free = (await f.fs.statfs()).ffree;
    for (let i = 0; i < free; i++) await f.fs.writeFile(`/f${i}`, "");
    await expect(f.fs.writeFile("/one-more", "")).rejects.toMatchObject({ code: "ENOSPC" });
    await f.fs.unlink("/f0");
    await f.fs.writeFile("/one-more", "");
  });
});
