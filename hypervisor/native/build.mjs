// Builds hypervisor/native (pvkit_shm) with node-gyp against this Node's own headers, offline: the
// headers that come with Node (<prefix>/include/node) when present, else node-gyp's usual download.
// Run by `pnpm install` (the root postinstall) and by hand: `node hypervisor/native/build.mjs`.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const gyp = createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js");
const prefix = dirname(dirname(process.execPath));
const args = [gyp, "rebuild", "--loglevel=warn"];
if (existsSync(join(prefix, "include", "node", "node.h"))) args.push(`--nodedir=${prefix}`);
execFileSync(process.execPath, args, { cwd: here, stdio: "inherit" });
