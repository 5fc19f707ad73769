/**
 * Debian's e2fsprogs as the judge of pvkit's ext2: mkfs.ext2 makes images for it to read, e2fsck -fn
 * says whether what it wrote is clean, debugfs reads files back without the kernel. Under CI they must
 * be installed (.ci/run installs e2fsprogs); elsewhere the suite is skipped, saying why.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";

const find = (name: string) => [`/usr/sbin/${name}`, `/sbin/${name}`].find((p) => existsSync(p));
const TOOLS = {
  mkfs: find("mkfs.ext2"),
  e2fsck: find("e2fsck"),
  debugfs: find("debugfs"),
  dumpe2fs: find("dumpe2fs"),
};

/** Why e2fsprogs cannot be used here, or undefined when it can (CI requires that it can). */
export function e2fsprogsMissing(): string | undefined {
  const missing = Object.entries(TOOLS)
    .filter(([, p]) => !p)
    .map(([t]) => t);
  const why = missing.length > 0 ? `not installed: ${missing.join(", ")} (e2fsprogs)` : undefined;
  if (why && process.env.CI) throw new Error(`e2fsprogs missing under CI: ${why}`);
  return why;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout: 60_000, maxBuffer: 64 * 1024 * 1024, encoding: "latin1" },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** mkfs.ext2 with Debian's defaults (mke2fs.conf) plus `args`, over `image` of `size` ("16M"). */
export async function mkfsExt2Tool(image: string, size: string, args: string[]): Promise<void> {
  const r = await run(TOOLS.mkfs!, ["-q", "-F", ...args, image, size]);
  if (r.code !== 0) throw new Error(`mkfs.ext2 failed (${r.code}): ${r.stderr}`);
}

/** e2fsck -fn: a forced, read-only check. Exit 0 means clean. */
export function e2fsck(image: string): Promise<Run> {
  return run(TOOLS.e2fsck!, ["-fn", image]);
}

/** A file's bytes as debugfs reads them. */
export async function debugfsCat(image: string, path: string): Promise<Uint8Array> {
  const r = await run(TOOLS.debugfs!, ["-R", `cat ${path}`, image]);
  if (r.code !== 0) throw new Error(`debugfs cat ${path} failed: ${r.stderr}`);
  return Uint8Array.from(Buffer.from(r.stdout, "latin1"));
}

export async function dumpe2fsHeader(image: string): Promise<Run> {
  return run(TOOLS.dumpe2fs!, ["-h", image]);
}

/** e2fsck -fyD: repairs nothing on a clean image but rebuilds directories as htree indexes. */
export function indexDirectories(image: string): Promise<Run> {
  return run(TOOLS.e2fsck!, ["-fyD", image]);
}
