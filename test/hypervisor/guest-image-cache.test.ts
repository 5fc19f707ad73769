/**
 * Guest images are built once and kept while their files are unchanged (image/guest-build.ts,
 * KeptBuilds): creating the same guest again costs a look at the source watch, not a compile; editing the program
 * builds it again; a failed build is not kept. A pooled worker's linked image and a cold worker's
 * whole image are kept apart. The program is a real file in a temporary folder.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { guestImage } from "@pvkit/hypervisor/image/guest-image";

const dir = mkdtempSync(join(tmpdir(), "pvkit-image-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes the program with `text` in its main(), its mtime `seconds` past the epoch (no same-ms tie). */
function writeProgram(file: string, text: string, seconds: number): string {
  writeFileSync(file, `export default async function main(k) { k.print(${JSON.stringify(text)}); }\n`);
  utimesSync(file, seconds, seconds);
  return pathToFileURL(file).href;
}

describe("guest image cache", () => {
  it("keeps an image until its program changes, and keeps linked and whole images apart", async () => {
    const program = writeProgram(join(dir, "hello.ts"), "first", 1_000_000);
    const linked = await guestImage({ program });
    expect(linked.buildMs).toBeGreaterThan(0);
    expect(linked.kernel).toBeDefined();
    expect(linked.code).toContain("first");

    const again = await guestImage({ program });
    expect(again.buildMs).toBe(0);
    expect(again.code).toBe(linked.code);

    const whole = await guestImage({ program, whole: true });
    expect(whole.buildMs).toBeGreaterThan(0);
    expect(whole.kernel).toBeUndefined();
    expect(whole.code.length).toBeGreaterThan(linked.code.length * 10); // the kernel is in it

    writeProgram(join(dir, "hello.ts"), "second", 2_000_000);
    const edited = await guestImage({ program });
    expect(edited.buildMs).toBeGreaterThan(0);
    expect(edited.code).toContain("second");
    expect(edited.code).not.toContain("first");
  });

  it("sees a program folder moved aside and checked out again, and a file replaced under its name", async () => {
    // A folder moved aside: the old files (and their watches) go with it, unchanged; new files
    // stand behind the same names.
    const folder = join(dir, "app");
    mkdirSync(folder);
    const program = writeProgram(join(folder, "main.ts"), "before the move", 5_000_000);
    expect((await guestImage({ program })).code).toContain("before the move");
    renameSync(folder, join(dir, "app.old"));
    mkdirSync(folder);
    writeProgram(join(folder, "main.ts"), "checked out again", 6_000_000);
    expect((await guestImage({ program })).code).toContain("checked out again");

    // A file replaced by another with the same mtime (cp -p, tar x): the image stays, but the watch
    // must follow the name to the new file, or the next edit of it would go unseen.
    const file = join(folder, "main.ts");
    const copy = join(dir, "main.copy.ts");
    writeProgram(copy, "checked out again", 6_000_000);
    renameSync(copy, file);
    expect((await guestImage({ program })).buildMs).toBe(0);
    writeProgram(file, "edited after the copy", 7_000_000);
    expect((await guestImage({ program })).code).toContain("edited after the copy");
  });

  it("does not keep a failed build: the fixed file builds", async () => {
    const file = join(dir, "typo.ts");
    writeFileSync(file, "export default async function main( {\n");
    utimesSync(file, 3_000_000, 3_000_000);
    const program = pathToFileURL(file).href;
    await expect(guestImage({ program })).rejects.toThrow(/cannot build the guest image/);
    writeProgram(file, "fixed", 4_000_000);
    expect((await guestImage({ program })).code).toContain("fixed");
  });
});
