/**
 * What a domU's image may contain, decided while it is bundled (an esbuild plugin). An allow-list,
 * for imports and for files:
 *   - imports: the guest's own files (relative or absolute paths), and the guest SDK packages —
 *     @pvkit/abi, @pvkit/guest-kernel (but not its dom0/ services) and @pvkit/drivers — resolved
 *     through their package.json exports from this repository, so a program outside the repo bundles
 *     the same way. Anything else — `node:fs`, `fs`, an npm package, an import with attributes
 *     (`with { type: "text" }` would read any file as a string) — is refused with one line naming
 *     the importer.
 *   - files: the plugin reads every file itself, and only a regular file of a source kind
 *     (.ts .mts .cts .js .mjs .cjs .json), no larger than MAX_SOURCE_BYTES, whose real path (links
 *     followed) lies under the program's project (programRoot) or the SDK's sources, with no hidden
 *     (dot) folder or file on the way. So an image cannot carry /etc/passwd, /proc/self/environ,
 *     ~/.ssh or an endless /dev/zero — the builder runs with the host's authority, and the guest must
 *     not borrow it.
 *
 * The import list is the clear error, not the boundary: the image runs in a realm where no host
 * module exists (hypervisor/src/realm), so even an import that slipped through would find nothing.
 */
import { open, realpath } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { extname, join, sep } from "node:path";
import type { Loader, Plugin } from "esbuild";

/** The packages a domU may import, by name → folder in the repository. */
export const GUEST_PACKAGES: Readonly<Record<string, string>> = {
  "@pvkit/abi": "abi",
  "@pvkit/guest-kernel": "guest-kernel",
  "@pvkit/drivers": "drivers",
};

/** Largest source file an image may include. */
export const MAX_SOURCE_BYTES = 8 * 1024 * 1024;

const LOADERS: Readonly<Record<string, Loader>> = {
  ".ts": "ts",
  ".mts": "ts",
  ".cts": "ts",
  ".js": "js",
  ".mjs": "js",
  ".cjs": "js",
  ".json": "json",
};

const ALLOWED = "a domU imports only its own files, @pvkit/abi, @pvkit/guest-kernel and @pvkit/drivers";
const builtins = new Set(builtinModules);

/** Resolves `sub` ("" or "layout" or "kernel/program") through a package's exports map. */
function resolveExport(dir: string, sub: string): string | undefined {
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    exports?: Record<string, string>;
  };
  const key = sub ? `./${sub}` : ".";
  const exact = pkg.exports?.[key];
  if (exact) return join(dir, exact);
  for (const [pattern, target] of Object.entries(pkg.exports ?? {})) {
    const star = pattern.indexOf("*");
    if (star < 0) continue;
    const [pre, post] = [pattern.slice(0, star), pattern.slice(star + 1)];
    if (key.startsWith(pre) && key.endsWith(post) && key.length >= pre.length + post.length) {
      return join(dir, target.replace("*", key.slice(pre.length, key.length - post.length)));
    }
  }
  return undefined;
}

/** Whether `path` is inside `root`, with no hidden (dot) folder or file below it. */
function inside(path: string, root: string): boolean {
  const prefix = root.endsWith(sep) ? root : root + sep;
  return (
    path.startsWith(prefix) &&
    !path
      .slice(prefix.length)
      .split(sep)
      .some((part) => part.startsWith("."))
  );
}

/**
 * @param repoRoot this repository (where the SDK packages live)
 * @param programRoot the folder of the program (or raw guest) being built: its own files
 */
export function guestResolver(repoRoot: string, programRoot: string): Plugin {
  const roots = [programRoot, ...Object.values(GUEST_PACKAGES).map((f) => join(repoRoot, f, "src"))];
  return {
    name: "pvkit-guest-allow-list",
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        const p = args.path;
        if (Object.keys(args.with).length > 0)
          return { errors: [{ text: `may not import "${p}" with attributes (only source files)` }] };
        if (args.kind === "entry-point" || p.startsWith(".") || p.startsWith("/")) return undefined;
        const m = /^(@pvkit\/[^/]+)(?:\/(.*))?$/.exec(p);
        const folder = m ? GUEST_PACKAGES[m[1]!] : undefined;
        if (m && folder) {
          const sub = m[2] ?? "";
          if (m[1] === "@pvkit/guest-kernel" && sub.startsWith("dom0/"))
            return { errors: [{ text: `may not import "${p}" (dom0's services run only in dom0)` }] };
          const path = resolveExport(join(repoRoot, folder), sub);
          if (path) return { path };
          return { errors: [{ text: `may not import "${p}" (${m[1]} has no such export)` }] };
        }
        const bare = p.startsWith("node:") ? p.slice(5) : p;
        const what =
          builtins.has(bare) || p.startsWith("node:") ? "a host module" : "a package outside the guest SDK";
        return { errors: [{ text: `may not import "${p}" (${what}; ${ALLOWED})` }] };
      });

      // Every file of the image is read here, once, after the checks (no second open to race).
      build.onLoad({ filter: /.*/ }, async (args) => {
        const loader = LOADERS[extname(args.path)];
        if (!loader)
          return {
            errors: [
              { text: `may not include ${args.path} (not a source file: ${Object.keys(LOADERS).join(" ")})` },
            ],
          };
        const real = await realpath(args.path).catch(() => args.path);
        if (!roots.some((r) => inside(real, r)))
          return {
            errors: [
              { text: `may not include ${args.path} (outside the program's folder and the guest SDK)` },
            ],
          };
        const f = await open(real, "r");
        try {
          const st = await f.stat();
          if (!st.isFile())
            return { errors: [{ text: `may not include ${args.path} (not a regular file)` }] };
          if (st.size > MAX_SOURCE_BYTES)
            return {
              errors: [
                { text: `may not include ${args.path} (${st.size} bytes; at most ${MAX_SOURCE_BYTES})` },
              ],
            };
          const buf = Buffer.alloc(st.size);
          const { bytesRead } = await f.read(buf, 0, st.size, 0);
          return { contents: buf.subarray(0, bytesRead), loader };
        } finally {
          await f.close();
        }
      });
    },
  };
}
