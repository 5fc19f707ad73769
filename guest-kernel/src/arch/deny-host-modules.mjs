// Module resolution hooks for a domU's worker (DESIGN.md §3): only dom0 touches the host. A guest
// module that imports one of these fails at load with a one-line reason. The arch layer itself and
// packages under node_modules (tsx) are exempt: they are the machine, not the guest.
import { register } from "node:module";

const hooks = `
const DENY = new Set(["fs", "fs/promises", "net", "tls", "http", "https", "http2", "dgram", "dns", "dns/promises",
  "child_process", "worker_threads", "cluster", "inspector", "module", "repl", "vm", "v8"]);
export async function resolve(specifier, context, next) {
  const bare = specifier.startsWith("node:") ? specifier.slice(5) : specifier;
  const parent = context.parentURL ?? "";
  if (DENY.has(bare) && !parent.includes("/node_modules/") && !parent.includes("/guest-kernel/src/arch/")) {
    throw new Error("pvkit: a domU has no host access: " + parent + " may not import \\"" + specifier + "\\" (only dom0 reaches the host)");
  }
  return next(specifier, context);
}`;
register("data:text/javascript," + encodeURIComponent(hooks));
