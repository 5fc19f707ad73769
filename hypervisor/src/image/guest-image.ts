/**
 * Guest images: what a domU's worker evaluates in its realm, bundled by esbuild with every import
 * checked against the allow-list (guest-resolver.ts). Two shapes:
 *   - a whole image, an async function expression called at once: a raw guest (its own kernel), or
 *     a program (or the shell) bundled with the kernel's realm entry, for a worker started cold;
 *   - a program's linked image, for a pooled worker, which evaluated the kernel image
 *     (kernel-image.ts) before its domain existed: an async function of that evaluated kernel,
 *     holding only the program's own files (the kernel's are links into it), which loads the
 *     program and boots the kernel with it.
 * Why two: the kernel image keeps every export of every kernel module (a program may import any),
 * which a whole image's tree shaking drops; evaluated on a cold start's path it cost 10-35 ms more
 * than the whole image (`pnpm bench domain-create`).
 * Images are cached by what they were built from and rebuilt when any input file changes, so
 * creating the same guest again costs a look at the source watch (source-watch.ts), not a compile.
 *
 * Rule: building runs in esbuild's service process; the caller's thread only awaits it. A bad image
 * (syntax error, missing file, a refused import) is an ImageError with one line per problem.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, relative } from "node:path";
import type { BuildOptions, Message, Plugin } from "esbuild";
import { build } from "./esbuild-service.ts";
import { globalsPrelude } from "./globals-prelude.ts";
import { GUEST_BUILD, type Inputs, KeptBuilds, imageText, inputsOf } from "./guest-build.ts";
import { guestResolver } from "./guest-resolver.ts";
import { KERNEL_PARAM, kernelImage, type KernelImage } from "./kernel-image.ts";

/** The repository root (this file is hypervisor/src/image/guest-image.ts). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** The kernel's entry in a domU's realm. */
export const REALM_ENTRY = join(REPO_ROOT, "guest-kernel/src/arch/realm-entry.ts");

/**
 * What to build: a program under the pvkit kernel, a raw guest that is its own kernel, or (neither)
 * the kernel with its shell as init.
 */
export interface ImageSpec {
  program?: string;
  kernel?: string;
  /** A program (or the shell) and the kernel as one whole image, for a worker started cold. */
  whole?: boolean;
}

export interface GuestImage {
  /**
   * The script text: a whole image, or, with `kernel`, a program's linked image — an async
   * function the supervisor calls with the evaluated kernel image.
   */
  code: string;
  /** A short name for messages (the program or raw guest file). */
  name: string;
  /** Build time in ms (0 when it came from the cache). */
  buildMs: number;
  /** The kernel image this program image runs on (absent for a raw guest). */
  kernel?: KernelImage;
}

/** An image that cannot be built: `message` is one line per problem, each naming the file and line. */
export class ImageError extends Error {
  override name = "ImageError";
}

/** Images by what they were built from; a linked image is tagged with its kernel image's id. */
const kept = new KeptBuilds<GuestImage>();

/** A file path from a file: URL or a path. */
export function toPath(urlOrPath: string): string {
  return urlOrPath.startsWith("file:") ? fileURLToPath(urlOrPath) : urlOrPath;
}

/**
 * The project a program belongs to: the nearest folder above it with a package.json (a guest
 * project, or this repository's `test/` and `examples/`), else the program's own folder. Its image
 * may include source files from there and from the guest SDK, nothing else.
 */
export function programRoot(file: string): string {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) return dirname(file);
  }
}

/** One line for an esbuild message: a refused import, or a compile error with its place. */
function formatMessage(m: Message): string {
  const where = m.location ? `${m.location.file}:${m.location.line}` : "";
  if (m.text.startsWith("may not ")) return `pvkit: a domU has no host access: ${where}: ${m.text}`;
  return `pvkit: cannot build the guest image: ${where ? `${where}:${m.location!.column + 1}: ` : ""}${m.text}`;
}

/**
 * Links a program's image to the kernel image: a file the kernel is made of is not bundled again
 * but taken from the evaluated kernel (`modules`, kernel-image.ts), so the program and the kernel
 * share one instance of every kernel module. A link is a small ES module that re-exports the
 * file's export names from there (a kernel module exports no `let`, so a copy of each binding is
 * the binding), and esbuild checks the program's imports against them as it would against the file.
 * Links are marked free of side effects — their top levels already ran — so an import whose
 * bindings go unused leaves nothing. Every import is resolved through the other plugins first (the
 * allow-list decides, as for any image); the links must load before guestResolver's reader.
 */
function kernelLinks(kernel: KernelImage): Plugin {
  return {
    name: "pvkit-kernel-links",
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind === "entry-point" || (args.pluginData as { linked?: true } | undefined)?.linked) return;
        const r = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          with: args.with,
          pluginData: { linked: true },
        });
        if (r.errors.length > 0) return { errors: r.errors };
        const linked = kernel.exports.has(r.path);
        return {
          path: r.path,
          namespace: r.namespace,
          external: r.external,
          sideEffects: linked ? false : r.sideEffects,
        };
      });
      build.onLoad({ filter: /.*/ }, (args) => {
        const names = kernel.exports.get(args.path);
        return names ? { contents: linkModule(args.path, names), loader: "js" } : undefined;
      });
    },
  };
}

/** The ES module that stands for kernel file `path` in a program's image. */
function linkModule(path: string, names: readonly string[]): string {
  const from = `${KERNEL_PARAM}.modules[${JSON.stringify(path)}]`;
  if (names.length === 0) return "export {};\n";
  const locals = names.map((n, i) => `${JSON.stringify(n)}: e${i}`).join(", ");
  const reexports = names.map((n, i) => `e${i} as ${/^[A-Za-z_$][\w$]*$/.test(n) ? n : JSON.stringify(n)}`);
  return `const { ${locals} } = ${from};\nexport { ${reexports.join(", ")} };\n`;
}

/** The one-line-per-problem error for a failed esbuild build, or `e` as it was. */
function imageError(e: unknown): unknown {
  const errors = (e as { errors?: Message[] }).errors;
  return errors?.length ? new ImageError(errors.map(formatMessage).join("\n")) : e;
}

/**
 * Builds a whole image (`kernel` undefined), or a program's image linked to `kernel`: an async
 * function of the evaluated kernel image that loads the program and boots the kernel with it
 * (the shell's needs no build: the kernel holds the shell).
 */
async function compile(
  spec: ImageSpec,
  name: string,
  built: (inputs: Inputs) => void,
  kernel?: KernelImage,
): Promise<GuestImage> {
  const t0 = performance.now();
  const wrap = (body: string) =>
    kernel
      ? `(async (${KERNEL_PARAM}) => {\n"use strict";\n${globalsPrelude()}\n${body}\n})`
      : `(async () => {\n"use strict";\n${globalsPrelude()}\n${body}\n})()`;
  if (kernel && !spec.program) {
    built({ mtimes: new Map() });
    const code = wrap(`${KERNEL_PARAM}.bootRealmKernel(undefined, ${JSON.stringify(name)});`);
    return { code, name, buildMs: performance.now() - t0, kernel };
  }
  const importProgram = spec.program
    ? `import * as program from ${JSON.stringify(toPath(spec.program))};\n`
    : "";
  const boot = `bootRealmKernel(${spec.program ? "program" : "undefined"}, ${JSON.stringify(name)});\n`;
  const contents = kernel
    ? `${importProgram}${KERNEL_PARAM}.${boot}`
    : `import { bootRealmKernel } from ${JSON.stringify(REALM_ENTRY)};\n${importProgram}${boot}`;
  const entry: Pick<BuildOptions, "stdin" | "entryPoints"> = spec.kernel
    ? { entryPoints: [toPath(spec.kernel)] }
    : { stdin: { contents, resolveDir: REPO_ROOT, sourcefile: "<pvkit realm entry>", loader: "ts" } };
  const allowList = guestResolver(REPO_ROOT, programRoot(toPath(spec.kernel ?? spec.program ?? REALM_ENTRY)));
  try {
    const out = await build({
      ...entry,
      ...GUEST_BUILD,
      absWorkingDir: REPO_ROOT,
      // ESM output keeps top-level await (raw guests use it); the image wraps it in an async function,
      // since a realm evaluates scripts, not modules.
      format: "esm",
      plugins: kernel ? [kernelLinks(kernel), allowList] : [allowList],
    });
    built(inputsOf(REPO_ROOT, out.metafile));
    const code = wrap(imageText(out.outputFiles[0]!.text));
    return { code, name, buildMs: performance.now() - t0, ...(kernel ? { kernel } : {}) };
  } catch (e) {
    throw imageError(e);
  }
}

/**
 * The image for `spec`, from the cache while its inputs are unchanged. A program's linked image is
 * linked to `linkTo` (the kernel image its pooled worker evaluated), by default the current kernel
 * image, and made again for another: which files it links depends on it.
 */
export async function guestImage(spec: ImageSpec, linkTo?: KernelImage): Promise<GuestImage> {
  const file = (spec.kernel ?? spec.program) ? toPath((spec.kernel ?? spec.program)!) : "";
  const key = spec.kernel ? `kernel:${file}` : `${spec.whole ? "whole" : "linked"}:${file}`;
  const name = !file
    ? "shell"
    : relative(REPO_ROOT, file).startsWith("..")
      ? file
      : relative(REPO_ROOT, file);
  const kernel = spec.kernel || spec.whole ? undefined : (linkTo ?? (await currentKernelImage()));
  const { value, reused } = kept.get(key, kernel?.id ?? "", (built) => compile(spec, name, built, kernel));
  return reused ? value.then((img) => ({ ...img, buildMs: 0 })) : value;
}

/** The kernel image programs run on (kernel-image.ts), for the warm pool to evaluate ahead. */
export const currentKernelImage = (): Promise<KernelImage> =>
  kernelImage(REPO_ROOT, REALM_ENTRY).catch((e: unknown) => {
    throw imageError(e);
  });
