/**
 * `pnpm codegen [--check] [--abi-check] [--root DIR] [--abi MODULE]`
 *   (default)    validate abi/, refuse undeclared breaks, write every generated file that changed
 *   --check      write nothing; exit 1 naming each stale generated file
 *   --abi-check  write nothing; compare the definitions with abi/abi.summary and its git history
 * One bad definition gets one line naming it and what is wrong, and nothing is written.
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { AbiDef } from "@pvkit/abi";
import { committedSummaries, compare, parseSummary, unallowedBreaks, type Summary } from "./abi-check.ts";
import { summaryLines } from "./emit/summary.ts";
import { SUMMARY_PATH, generateAll } from "./generate.ts";
import { buildModel } from "./model/build.ts";
import { AbiDefinitionError } from "./model/types.ts";
import { render, stale, writeChanged } from "./output.ts";

interface Options {
  check: boolean;
  abiCheck: boolean;
  root: string;
  abiModule?: string;
}

/** The workspace root: prettier's configuration always comes from here. */
const REPO_ROOT = resolve(import.meta.dirname, "../..");

function parseArgs(argv: string[]): Options {
  const o: Options = { check: false, abiCheck: false, root: REPO_ROOT };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--check") o.check = true;
    else if (a === "--abi-check") o.abiCheck = true;
    else if (a === "--root") o.root = resolve(argv[++i] ?? ".");
    else if (a === "--abi") o.abiModule = resolve(argv[++i] ?? "");
    else throw new Error(`unknown option ${a} (use --check, --abi-check, --root DIR, --abi MODULE)`);
  }
  return o;
}

async function loadAbi(o: Options): Promise<AbiDef> {
  const path = o.abiModule ?? join(o.root, "abi/src/abi.ts");
  const mod = (await import(pathToFileURL(path).href)) as { abi?: AbiDef };
  if (!mod.abi) throw new Error(`${path}: does not export \`abi\``);
  return mod.abi;
}

async function readSummary(root: string): Promise<Summary | undefined> {
  try {
    return parseSummary(await readFile(join(root, SUMMARY_PATH), "utf8"));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export async function run(argv: string[]): Promise<number> {
  const start = performance.now();
  const o = parseArgs(argv);
  const abi = await loadAbi(o);
  const model = buildModel(abi);
  const lines = summaryLines(model);
  const summary = await readSummary(o.root);
  const history = committedSummaries(o.root, SUMMARY_PATH).map((c) => ({
    label: `commit ${c.commit.slice(0, 10)}`,
    summary: parseSummary(c.text),
  }));
  const against = [...(summary ? [{ label: SUMMARY_PATH, summary }] : []), ...history];
  const breaks = unallowedBreaks(abi.version.major, lines, against);
  if (breaks.length > 0) {
    console.error(
      `pvkit codegen: ${breaks.length} ABI break(s) without a major version bump (abi.version.major is ${abi.version.major}):`,
    );
    for (const b of breaks) console.error(`  ${b}`);
    console.error(
      "Keep the ABI compatible, or bump abi.version.major in abi/src/abi.ts and run `pnpm codegen`.",
    );
    return 1;
  }

  if (o.abiCheck) {
    const { additions } = summary ? compare(summary.lines, lines) : { additions: lines };
    const bumped = summary && (abi.version.major !== summary.major || abi.version.minor !== summary.minor);
    if (!summary || additions.length > 0 || bumped || summary.lines.length !== lines.length) {
      console.error(
        `pvkit abi:check: ${SUMMARY_PATH} is stale (${additions.length} additions); run \`pnpm codegen\``,
      );
      return 1;
    }
    // The summary file is regenerated with every addition, so count what is new since the summary
    // last committed: that is what a reviewer of the change wants to see.
    const base = history[0]?.summary;
    const added = base ? compare(base.lines, lines).additions.length : additions.length;
    const since = base ? ` since ${history[0]!.label}` : "";
    console.log(
      `pvkit abi:check: ${added} additions${since}, 0 breaks (ABI ${abi.version.major}.${abi.version.minor})`,
    );
    return 0;
  }

  const files = await render(generateAll(model), REPO_ROOT);
  const ms = () => `${(performance.now() - start).toFixed(0)} ms`;
  if (o.check) {
    const bad = await stale(o.root, files);
    if (bad.length > 0) {
      console.error(`pvkit codegen --check: stale generated files (run \`pnpm codegen\`):`);
      for (const p of bad) console.error(`  ${p}`);
      return 1;
    }
    console.log(`pvkit codegen --check: ${files.length} generated files are fresh (${ms()})`);
    return 0;
  }
  const written = await writeChanged(o.root, files);
  console.log(
    `pvkit codegen: ${model.hypercalls.length} hypercalls, ${model.structs.size} structs, ${model.constants.size} constants → ` +
      `${written.length} of ${files.length} files written (${ms()})`,
  );
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      if (e instanceof AbiDefinitionError) console.error(`pvkit codegen: ${e.message}`);
      else console.error(`pvkit codegen: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
