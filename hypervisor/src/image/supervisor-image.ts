/**
 * The scripts the machine itself runs, each bundled into one CommonJS script, built once per host
 * process (the first user waits, the rest share): the supervisor every domain worker starts with
 * (hypervisor/src/realm/supervisor.ts and SES; a Worker runs it with `eval: true`) and a cell's main
 * script (cell/cell-main.ts, run with `node -e`).
 */
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { REPO_ROOT } from "./guest-image.ts";

const scripts = new Map<string, Promise<string>>();

/** The bundle of `entry` (relative to hypervisor/src), built once. */
function script(entry: string): Promise<string> {
  let s = scripts.get(entry);
  if (s) return s;
  s = build({
    entryPoints: [fileURLToPath(new URL(`../${entry}`, import.meta.url))],
    absWorkingDir: REPO_ROOT,
    bundle: true,
    write: false,
    format: "cjs",
    platform: "node",
    target: "node20",
    logLevel: "silent",
    legalComments: "none",
  }).then((out) => out.outputFiles[0]!.text);
  scripts.set(entry, s);
  s.catch(() => scripts.delete(entry));
  return s;
}

export const supervisorScript = () => script("realm/supervisor.ts");
export const cellScript = () => script("cell/cell-main.ts");

/** tsx's registration API, which the trusted domain's supervisor loads to import TypeScript. */
export const TSX_API_URL = import.meta.resolve("tsx/esm/api");
