/**
 * The scripts the machine itself runs, each bundled into one CommonJS script, built once per host
 * process (the first user waits, the rest share): the supervisor every domain worker starts with
 * (hypervisor/src/realm/supervisor.ts and SES, as a function: realm/code-cache.ts) and a cell's main
 * script (cell/cell-main.ts, run with `node -e`).
 */
import { fileURLToPath } from "node:url";
import { build } from "./esbuild-service.ts";
import { REPO_ROOT } from "./guest-image.ts";
import { supervisorFunction } from "../realm/code-cache.ts";

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

/**
 * The supervisor, as a function of CommonJS's bindings (realm/code-cache.ts): a domU's stub compiles
 * this text as it is; the trusted domain runs supervisorCall of it.
 */
export const supervisorScript = (): Promise<string> => (supervisorFn ??= supervisorBundle());
let supervisorFn: Promise<string> | undefined;
async function supervisorBundle(): Promise<string> {
  try {
    return supervisorFunction(await script("realm/supervisor.ts"));
  } catch (e) {
    supervisorFn = undefined;
    throw e;
  }
}
export const cellScript = () => script("cell/cell-main.ts");

/** tsx's registration API, which the trusted domain's supervisor loads to import TypeScript. */
export const TSX_API_URL = import.meta.resolve("tsx/esm/api");
