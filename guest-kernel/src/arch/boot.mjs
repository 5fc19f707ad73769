// The first code a domain's worker runs (plain JS: TypeScript support is not loaded yet).
// It loads tsx, then for every domain but dom0 installs the hooks that keep host modules out,
// optionally opens the inspector, and enters the kernel. Order matters: the deny hooks must be in
// place before any guest module is resolved.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
const { boot } = workerData;
if (boot.inspectorPort) {
  const inspector = await import("node:inspector");
  inspector.open(boot.inspectorPort, "127.0.0.1", false);
  process.stderr.write(`dom${boot.domid}: debugger listening on ${inspector.url()}\n`);
}
if (!boot.privileged) await import("./deny-host-modules.mjs");
await import(boot.entry);
