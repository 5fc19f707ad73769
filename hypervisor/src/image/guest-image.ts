/**
 * Guest images: what a domU's worker evaluates in its realm. An image is one script — an async
 * function expression, called at once — bundled by esbuild from the guest kernel's realm entry and
 * the domain's program (or from a raw guest that is its own kernel), with every import checked
 * against the allow-list (guest-resolver.ts). Evaluating it gives a promise of the top level. Images
 * are cached by what they were built from and rebuilt when any input file changes, so creating the
 * same guest again costs a few stats, not a compile.
 *
 * Rule: building runs in esbuild's service process; the caller's thread only awaits it. A bad image
 * (syntax error, missing file, a refused import) is an ImageError with one line per problem.
 */
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, isAbsolute, join, relative } from "node:path";
import { build, type BuildOptions, type Message } from "esbuild";
import { TYPED_ARRAYS } from "../realm/gate.ts";
import { guestResolver } from "./guest-resolver.ts";

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
}

export interface GuestImage {
  /** The script text. */
  code: string;
  /** A short name for messages (the program or raw guest file). */
  name: string;
  /** Build time in ms (0 when it came from the cache). */
  buildMs: number;
}

/**
 * The globals an image uses, bound once as locals of its function. A compartment resolves a free
 * identifier through SES's scope proxy — a trap on every `Atomics`, `BigInt` or `undefined` the
 * kernel names, which made a null hypercall three times slower — while a local is a plain slot.
 * The values are the same objects; only the lookup is cheaper. (A global a program adds itself is
 * still found through the proxy.)
 */
const GLOBAL_NAMES = [
  "undefined",
  "NaN",
  "Infinity",
  "globalThis",
  "Object",
  "Function",
  "Array",
  "Number",
  "String",
  "Boolean",
  "Symbol",
  "BigInt",
  "Math",
  "JSON",
  "Reflect",
  "Proxy",
  "Promise",
  "Date",
  "RegExp",
  "Map",
  "Set",
  "WeakMap",
  "WeakSet",
  "Error",
  "TypeError",
  "RangeError",
  "SyntaxError",
  "ReferenceError",
  "EvalError",
  "URIError",
  "AggregateError",
  "ArrayBuffer",
  "SharedArrayBuffer",
  "DataView",
  "Atomics",
  ...TYPED_ARRAYS.filter((n) => n !== "Float16Array"),
  "parseInt",
  "parseFloat",
  "isNaN",
  "isFinite",
  "encodeURIComponent",
  "decodeURIComponent",
  "encodeURI",
  "decodeURI",
  "TextEncoder",
  "TextDecoder",
  "console",
  "performance",
  "setTimeout",
  "clearTimeout",
  "setInterval",
  "clearInterval",
  "setImmediate",
  "clearImmediate",
  "queueMicrotask",
  "pvkitMachine",
] as const;
const GLOBALS_PRELUDE = `let ${GLOBAL_NAMES.map((n) => (n === "globalThis" ? "" : `${n} = globalThis.${n}`))
  .filter(Boolean)
  .join(", ")};`;

/** An image that cannot be built: `message` is one line per problem, each naming the file and line. */
export class ImageError extends Error {
  override name = "ImageError";
}

interface Cached {
  image: Promise<GuestImage>;
  /** Input files with their mtimes when built (filled once the build finished). */
  inputs?: Map<string, number>;
}

const cache = new Map<string, Cached>();

/** A file path from a file: URL or a path. */
export function toPath(urlOrPath: string): string {
  return urlOrPath.startsWith("file:") ? fileURLToPath(urlOrPath) : urlOrPath;
}

function fresh(c: Cached): boolean {
  if (!c.inputs) return true; // still building: share the build
  for (const [file, mtime] of c.inputs) {
    try {
      if (statSync(file).mtimeMs !== mtime) return false;
    } catch {
      return false;
    }
  }
  return true;
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

async function compile(spec: ImageSpec, name: string, c: Cached): Promise<GuestImage> {
  const t0 = performance.now();
  const boot = (program: string) =>
    `import { bootRealmKernel } from ${JSON.stringify(REALM_ENTRY)};\n${program}` +
    `bootRealmKernel(${spec.program ? "program" : "undefined"}, ${JSON.stringify(name)});\n`;
  const entry: Pick<BuildOptions, "stdin" | "entryPoints"> = spec.kernel
    ? { entryPoints: [toPath(spec.kernel)] }
    : {
        stdin: {
          contents: boot(
            spec.program ? `import * as program from ${JSON.stringify(toPath(spec.program))};\n` : "",
          ),
          resolveDir: REPO_ROOT,
          sourcefile: "<pvkit realm entry>",
          loader: "ts",
        },
      };
  try {
    const out = await build({
      ...entry,
      absWorkingDir: REPO_ROOT,
      bundle: true,
      write: false,
      // ESM output keeps top-level await (raw guests use it); the image wraps it in an async function,
      // since a realm evaluates scripts, not modules.
      format: "esm",
      platform: "neutral",
      target: "es2022",
      mainFields: ["module", "main"],
      metafile: true,
      logLevel: "silent",
      legalComments: "none",
      charset: "utf8",
      plugins: [guestResolver(REPO_ROOT, programRoot(toPath(spec.kernel ?? spec.program ?? REALM_ENTRY)))],
    });
    const inputs = new Map<string, number>();
    for (const input of Object.keys(out.metafile.inputs)) {
      if (input.startsWith("<")) continue;
      const abs = isAbsolute(input) ? input : join(REPO_ROOT, input);
      inputs.set(abs, statSync(abs).mtimeMs);
    }
    c.inputs = inputs;
    const code = `(async () => {\n"use strict";\n${GLOBALS_PRELUDE}\n${out.outputFiles[0]!.text}\n})()`;
    return { code, name, buildMs: performance.now() - t0 };
  } catch (e) {
    const errors = (e as { errors?: Message[] }).errors;
    if (errors?.length) throw new ImageError(errors.map(formatMessage).join("\n"));
    throw e;
  }
}

/** The image for `spec`, from the cache while its inputs are unchanged. */
export function guestImage(spec: ImageSpec): Promise<GuestImage> {
  const file = (spec.kernel ?? spec.program) ? toPath((spec.kernel ?? spec.program)!) : "";
  const key = spec.kernel ? `kernel:${file}` : `program:${file}`;
  const name = !file
    ? "shell"
    : relative(REPO_ROOT, file).startsWith("..")
      ? file
      : relative(REPO_ROOT, file);
  const hit = cache.get(key);
  if (hit && fresh(hit)) return hit.image.then((img) => ({ ...img, buildMs: 0 }));
  const c: Cached = { image: Promise.resolve(undefined as never) };
  c.image = compile(spec, name, c);
  cache.set(key, c);
  // A failed build is not cached: the user fixes the file and creates again.
  c.image.catch(() => cache.get(key) === c && cache.delete(key));
  return c.image;
}
