/**
 * ext2 file contents over an in-memory device formatted by our mkfs: writes at any offset, appends,
 * holes, truncation both ways, block accounting (i_blocks counts indirect blocks), persistence across
 * a remount, and the open-file API.
 */
import { describe, expect, it } from "vitest";
import { freshFs, pattern, sameBytes } from "./helpers/ext2-fixture.ts";

const KiB = 1024;

describe("ext2 file data", () => {
  it("reads back what was written, small and past the double indirect block, after a remount too", async () => {
    let f = await freshFs({ mib: 4 });
    const small = pattern(100);
    const big = pattern(600 * KiB, 2); // 1 KiB blocks: 12 direct + 256 indirect, the rest double indirect
    await f.fs.writeFile("/small", small);
    await f.fs.writeFile("/big", big);
    expect(sameBytes(await f.fs.readFile("/big"), big)).toBe(true);
    f = await f.remount();
    expect(await f.fs.readFile("/small")).toEqual(small);
    expect(sameBytes(await f.fs.readFile("/big"), big)).toBe(true);
    const st = await f.fs.stat("/big");
    // 600 data blocks + 1 indirect + 1 double indirect + 2 indirect under it, in 512-byte units.
    expect(st.blocks).toBe((600 + 1 + 1 + 2) * 2);
    expect(st.size).toBe(600 * KiB);
  });

  it("counts the indirect block in i_blocks from the 13th block on", async () => {
    const f = await freshFs();
    await f.fs.writeFile("/a", pattern(12 * KiB));
    expect((await f.fs.stat("/a")).blocks).toBe(24);
    await f.fs.appendFile("/a", "x");
    expect((await f.fs.stat("/a")).blocks).toBe(28);
  });

  it("writes at any offset: inside a block, across blocks, over existing data", async () => {
    const f = await freshFs();
    const model = pattern(5000);
    await f.fs.writeFile("/f", model);
    const h = await f.fs.open("/f", "r+");
    const patch = pattern(3000, 9);
    await h.write(patch, 0, patch.length, 1500);
    model.set(patch, 1500);
    const part = new Uint8Array(10);
    await h.read(part, 0, 10, 4000);
    expect(part).toEqual(model.subarray(4000, 4010));
    await h.close();
    expect(await f.fs.readFile("/f")).toEqual(model);
  });

  it("reads holes as zeros and gives them no blocks, up to the triple indirect block", async () => {
    const f = await freshFs({ mib: 4 });
    const h = await f.fs.open("/sparse", "w");
    const far = 70 * 1024 * KiB; // past 12 + 256 + 65536 blocks: under the triple indirect block
    await h.write("end", far);
    await h.write("mid", 300 * KiB);
    await h.close();
    const st = await f.fs.stat("/sparse");
    expect(st.size).toBe(far + 3);
    expect(st.blocks).toBeLessThan(20 * 2); // two data blocks and their indirect chains
    const h2 = await f.fs.open("/sparse", "r");
    const buf = new Uint8Array(8);
    await h2.read(buf, 0, 8, far - 5);
    expect([...buf]).toEqual([0, 0, 0, 0, 0, 101, 110, 100]);
    await h2.read(buf, 0, 8, 1000);
    expect(buf.every((b) => b === 0)).toBe(true);
    await h2.close();
    const before = (await f.fs.statfs()).bfree;
    await f.fs.unlink("/sparse");
    expect((await f.fs.statfs()).bfree - before).toBe(st.blocks / 2);
  });

  it("appends with appendFile and with an 'a' handle whatever position it is given", async () => {
    const f = await freshFs();
    await f.fs.writeFile("/log", "one\n");
    await f.fs.appendFile("/log", "two\n");
    const h = await f.fs.open("/log", "a");
    await h.write("three\n", 0);
    await h.close();
    expect(await f.fs.readFile("/log", "utf8")).toBe("one\ntwo\nthree\n");
  });

  it("truncates: shrinking frees blocks (indirect ones too), growing reads as zeros", async () => {
    const f = await freshFs();
    const free0 = (await f.fs.statfs()).bfree;
    await f.fs.writeFile("/t", pattern(300 * KiB));
    await f.fs.truncate("/t", 1500);
    expect((await f.fs.stat("/t")).blocks).toBe(4);
    expect((await f.fs.statfs()).bfree).toBe(free0 - 2);
    await f.fs.truncate("/t", 5000);
    const data = await f.fs.readFile("/t");
    expect(data.subarray(0, 1500)).toEqual(pattern(300 * KiB).subarray(0, 1500));
    expect(data.subarray(1500).every((b) => b === 0)).toBe(true); // the old tail is gone, not resurrected
    await f.fs.truncate("/t");
    expect((await f.fs.stat("/t")).blocks).toBe(0);
    expect((await f.fs.statfs()).bfree).toBe(free0);
  });

  it("stamps mtime and ctime from the injected clock and leaves atime alone", async () => {
    const f = await freshFs();
    f.clock.now = 1_800_000_000;
    await f.fs.writeFile("/c", "x");
    f.clock.now += 100;
    await f.fs.appendFile("/c", "y");
    await f.fs.readFile("/c");
    const st = await f.fs.stat("/c");
    expect(st.mtimeMs).toBe(1_800_000_100_000);
    expect(st.ctimeMs).toBe(1_800_000_100_000);
    expect(st.atimeMs).toBe(1_800_000_000_000);
  });

  it("truncates on 'w', refuses 'wx' on an existing file, and checks handle modes", async () => {
    const f = await freshFs();
    await f.fs.writeFile("/w", "long contents");
    await f.fs.writeFile("/w", "short");
    expect(await f.fs.readFile("/w", "utf8")).toBe("short");
    await expect(f.fs.writeFile("/w", "x", { flag: "wx" })).rejects.toMatchObject({
      code: "EEXIST",
      message: "EEXIST: file already exists, open '/w'",
    });
    const h = await f.fs.open("/w", "r");
    await expect(h.write("x")).rejects.toMatchObject({ code: "EBADF" });
    await h.close();
    await expect(h.read(new Uint8Array(1))).rejects.toMatchObject({ code: "EBADF" });
    await expect(f.fs.open("/w", "q" as "r")).rejects.toMatchObject({ code: "EINVAL" });
  });

  it("keeps an unlinked open file readable until its last close, then frees it", async () => {
    const f = await freshFs();
    const free0 = (await f.fs.statfs()).ffree;
    await f.fs.writeFile("/open", "still here");
    const h = await f.fs.open("/open", "r");
    await f.fs.unlink("/open");
    await expect(f.fs.stat("/open")).rejects.toMatchObject({ code: "ENOENT" });
    expect(new TextDecoder().decode(await h.readFile())).toBe("still here");
    expect((await f.fs.statfs()).ffree).toBe(free0 - 1);
    await h.close();
    expect((await f.fs.statfs()).ffree).toBe(free0);
  });

  it("runs many calls at once: reads side by side, writes one at a time, none lost or mixed", async () => {
    const f = await freshFs();
    const stable = pattern(40 * KiB, 3);
    await f.fs.writeFile("/stable", stable);
    const names = Array.from({ length: 12 }, (_, i) => `/w${i}`);
    const calls = await Promise.all([
      ...names.map((n, i) => f.fs.writeFile(n, pattern(3 * KiB + i * 700, i + 10))),
      ...names.map(() => f.fs.readFile("/stable")),
      ...names.map((n) => f.fs.mkdir(n + ".d")),
    ]);
    for (const r of calls.slice(names.length, 2 * names.length))
      expect(sameBytes(r as Uint8Array, stable)).toBe(true);
    for (const [i, n] of names.entries())
      expect(sameBytes(await f.fs.readFile(n), pattern(3 * KiB + i * 700, i + 10))).toBe(true);
    expect((await f.fs.readdir("/")).length).toBe(2 + 2 * names.length);
  });

  it("fails with ENOSPC when full, keeps the file consistent, and gets the space back", async () => {
    const f = await freshFs({ mib: 1 });
    const free0 = await f.fs.statfs();
    await expect(f.fs.writeFile("/fill", pattern(2 * 1024 * KiB))).rejects.toMatchObject({
      code: "ENOSPC",
      message: "ENOSPC: no space left on device, write",
    });
    const st = await f.fs.stat("/fill");
    expect(st.size).toBeGreaterThan(500 * KiB);
    expect((await f.fs.statfs()).bfree).toBe(0);
    expect((await f.fs.readFile("/fill")).subarray(0, 1000)).toEqual(
      pattern(2 * 1024 * KiB).subarray(0, 1000),
    );
    await expect(f.fs.mkdir("/d")).rejects.toMatchObject({ code: "ENOSPC" });
    await f.fs.unlink("/fill");
    expect(await f.fs.statfs()).toEqual(free0);
  });

  it("reads a large file's contiguous blocks with few device requests", async () => {
    let f = await freshFs({ mib: 8, blockSize: 4096 });
    await f.fs.writeFile("/big", pattern(4 * 1024 * KiB));
    f = await f.remount();
    f.dev.log.length = 0;
    await f.fs.readFile("/big");
    // 1024 data blocks in 4 KiB blocks: a few indirect-block reads, the data in 256 KiB requests.
    expect(f.dev.ops("read").length).toBeLessThan(40);
  });
});
