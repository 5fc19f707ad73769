/**
 * The guest image cache's source watch (image/source-watch.ts): its generation moves the moment a
 * watched file changes — in the same turn as the write, with no event loop in between — however the
 * file changes (written in place, truncated, its mode changed, replaced by a rename, deleted, a
 * folder on its way moved or deleted), and stays still while nothing watched changes, so a kept
 * image is reused without a stat.
 */
import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sourceGeneration, watchSources } from "@pvkit/hypervisor/image/source-watch";

const dir = mkdtempSync(join(tmpdir(), "pvkit-source-watch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text = "export const x = 1;\n"): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Whether `change` moved the generation, read right after it, in the same turn. */
function moves(change: () => void): boolean {
  const before = sourceGeneration();
  change();
  return sourceGeneration() !== before;
}

describe("source watch", () => {
  it("stands still while nothing watched changes", () => {
    const a = file("still.ts");
    expect(watchSources([a])).toBe(true);
    const g = sourceGeneration();
    expect(sourceGeneration()).toBe(g);
    file("unwatched.ts"); // a file nobody watches
    expect(sourceGeneration()).toBe(g);
  });

  it("moves in the same turn as any change to a watched file", () => {
    const a = file("a.ts");
    expect(watchSources([a])).toBe(true);
    expect(moves(() => writeFileSync(a, "export const x = 2;\n"))).toBe(true);
    expect(moves(() => appendFileSync(a, "// more\n"))).toBe(true);
    expect(moves(() => truncateSync(a, 3))).toBe(true);
    expect(moves(() => chmodSync(a, 0o600))).toBe(true);
  });

  it("moves when an editor replaces the file (write elsewhere, rename over it) and when it is deleted", () => {
    const a = file("replaced.ts");
    expect(watchSources([a])).toBe(true);
    const temp = file("replaced.ts.tmp", "export const x = 3;\n");
    expect(moves(() => renameSync(temp, a))).toBe(true);
    // The watch followed the old file; the cache then stats, builds again, and watches the new one.
    expect(watchSources([a])).toBe(true);
    expect(moves(() => unlinkSync(a))).toBe(true);
  });

  it("moves when a folder on the way to a watched file is moved or deleted", () => {
    const folder = join(dir, "src");
    mkdirSync(join(folder, "kernel"), { recursive: true });
    const a = join(folder, "kernel", "main.ts");
    writeFileSync(a, "export {};\n");
    expect(watchSources([a])).toBe(true);
    expect(moves(() => renameSync(folder, join(dir, "src.old")))).toBe(true);
    mkdirSync(join(folder, "kernel"), { recursive: true });
    writeFileSync(a, "export {};\n");
    expect(watchSources([a])).toBe(true);
    expect(moves(() => rmSync(folder, { recursive: true }))).toBe(true);
  });

  it("says so when a file cannot be watched: the cache then compares mtimes every time", () => {
    expect(watchSources([join(dir, "never-written.ts")])).toBe(false);
  });
});
