/**
 * The kernel image: the guest kernel's realm entry and every module it loads, bundled on its own so
 * that a pooled worker can evaluate it before it has a domain (hypervisor/src/pool). Evaluating it
 * runs only the kernel's module top levels — pvkit's code, the same for every domU — and gives
 *
 *   { bootRealmKernel, modules }
 *
 * where `modules` maps each of the kernel's source files (absolute path) to its module namespace. A
 * program's image (guest-image.ts) is then bundled with every one of those files replaced by a link
 * into `modules` that re-exports the file's export names (found at build time), so a program that
 * imports `@pvkit/guest-kernel/kernel/program` gets the kernel's own FsError class (instanceof
 * works), not a second copy, and only the program's own files are compiled when its domain starts.
 *
 * Why a program is not evaluated ahead as well: its top level is code of whoever wrote it, and it
 * must run as its domain, watched and accounted, not in a worker that has no domain yet.
 *
 * Built once per host process and rebuilt when any of its files changes, like a program image. The
 * id names one build: a pooled worker prepared with another kernel cannot serve a new domain.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { build } from "./esbuild-service.ts";
import { GUEST_BUILD, type Inputs, KeptBuilds, imageText, inputFiles, inputsOf } from "./guest-build.ts";
import { globalsPrelude } from "./globals-prelude.ts";
import { guestResolver } from "./guest-resolver.ts";

export interface KernelImage {
  /** The script: an expression whose value is { bootRealmKernel, modules }. */
  code: string;
  /** A hash of `code`. */
  id: string;
  /** The kernel's source files (absolute paths), the keys of `modules`, with their export names. */
  exports: ReadonlyMap<string, readonly string[]>;
}

/** The name the program image gives the evaluated kernel image (guest-image.ts). */
export const KERNEL_PARAM = "__pvkitKernel";

const kept = new KeptBuilds<KernelImage>();

/** The kernel image, from the cache while its files are unchanged. */
export function kernelImage(repoRoot: string, realmEntry: string): Promise<KernelImage> {
  return kept.get(realmEntry, "", (built) => compileKernel(repoRoot, realmEntry, built)).value;
}

async function compileKernel(
  repoRoot: string,
  realmEntry: string,
  built: (inputs: Inputs) => void,
): Promise<KernelImage> {
  const common = {
    ...GUEST_BUILD,
    absWorkingDir: repoRoot,
    plugins: [guestResolver(repoRoot, join(repoRoot, "guest-kernel", "src"))],
  };
  // First the entry's closure: which files the kernel is made of.
  const closure = await build({ ...common, entryPoints: [realmEntry], format: "esm" });
  const files = inputFiles(repoRoot, closure.metafile);
  // Each file's export names (`export *` resolved), from a build with every file an entry point:
  // a program's links re-export exactly these, so a misspelt import fails to build as it would in
  // a whole image.
  const split = await build({
    ...common,
    entryPoints: files,
    format: "esm",
    splitting: true,
    outdir: join(repoRoot, "<pvkit kernel exports>"), // never written (write: false)
  });
  const exports = new Map<string, readonly string[]>();
  for (const out of Object.values(split.metafile.outputs))
    if (out.entryPoint) exports.set(join(repoRoot, out.entryPoint), out.exports);
  // Then the same files, each one's namespace kept under its path.
  const entry =
    `export { bootRealmKernel } from ${JSON.stringify(realmEntry)};\n` +
    files.map((f, i) => `import * as m${i} from ${JSON.stringify(f)};\n`).join("") +
    `export const modules = {${files.map((f, i) => `${JSON.stringify(f)}: m${i}`).join(", ")}};\n`;
  const out = await build({
    ...common,
    stdin: { contents: entry, resolveDir: repoRoot, sourcefile: "<pvkit kernel image>", loader: "ts" },
    format: "iife",
    globalName: "__pvkitKernelImage",
  });
  built(inputsOf(repoRoot, out.metafile));
  const code =
    `(() => {\n"use strict";\n${globalsPrelude(["pvkitMachine"])}\n` +
    `${imageText(out.outputFiles[0]!.text)}\nreturn __pvkitKernelImage;\n})()`;
  const id = createHash("sha256").update(code).digest("hex").slice(0, 16);
  return { code, id, exports: new Map(files.map((f) => [f, exports.get(f) ?? []])) };
}
