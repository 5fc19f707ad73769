/**
 * What a domU's image may contain, decided while it is bundled (an esbuild plugin). An allow-list:
 * the guest's own files (relative or absolute paths), and the guest SDK packages — @pvkit/abi,
 * @pvkit/guest-kernel (but not its dom0/ services) and @pvkit/drivers — resolved through their
 * package.json exports from this repository, so a program outside the repo bundles the same way.
 * Anything else — `node:fs`, `fs`, an npm package — is refused with one line naming the importer.
 *
 * This is the clear error, not the boundary: the image runs in a realm where no host module exists
 * (hypervisor/src/realm), so even an import that slipped through would find nothing to load.
 */
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import type { Plugin } from "esbuild";

/** The packages a domU may import, by name → folder in the repository. */
export const GUEST_PACKAGES: Readonly<Record<string, string>> = {
  "@pvkit/abi": "abi",
  "@pvkit/guest-kernel": "guest-kernel",
  "@pvkit/drivers": "drivers",
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

export function guestResolver(repoRoot: string): Plugin {
  return {
    name: "pvkit-guest-allow-list",
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        const p = args.path;
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
    },
  };
}
