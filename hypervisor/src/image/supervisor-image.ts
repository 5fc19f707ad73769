/**
 * The supervisor script every domain worker starts with (hypervisor/src/realm/supervisor.ts and SES,
 * bundled into one CommonJS script that a Worker runs with `eval: true`). Built once per host
 * process; the first domain waits for it, the rest share it.
 */
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { REPO_ROOT } from "./guest-image.ts";

const SUPERVISOR_ENTRY = fileURLToPath(new URL("../realm/supervisor.ts", import.meta.url));

let script: Promise<string> | undefined;

export function supervisorScript(): Promise<string> {
  script ??= build({
    entryPoints: [SUPERVISOR_ENTRY],
    absWorkingDir: REPO_ROOT,
    bundle: true,
    write: false,
    format: "cjs",
    platform: "node",
    target: "node20",
    logLevel: "silent",
    legalComments: "none",
  }).then((out) => out.outputFiles[0]!.text);
  script.catch(() => (script = undefined));
  return script;
}

/** tsx's registration API, which the trusted domain's supervisor loads to import TypeScript. */
export const TSX_API_URL = import.meta.resolve("tsx/esm/api");
