/**
 * `pvkit init <dir>`: a guest project outside this repository that type-checks and runs against the
 * SDK of the pvkit that made it. Nothing is downloaded: the project's node_modules/@pvkit/* are links
 * to this checkout's packages (so editors and tsc resolve `@pvkit/guest-kernel/kernel/program`
 * through the packages' own exports maps), and its scripts call this checkout's tsc and pvkit.
 *
 * What it writes — each file the smallest a user would otherwise write by hand:
 *   package.json   scripts: typecheck, up (the host), create (the guest), pvkit (any command)
 *   tsconfig.json  strict, ES2024 without DOM or Node types: a guest's world is the language
 *   main.ts        a program that prints, reads xenstore, sleeps and returns
 *   guest.cfg      an xl.cfg for it
 */
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { CliError } from "./client.ts";

/** This checkout's root (hypervisor/src/cli → ../../..). */
const REPO = resolve(import.meta.dirname, "../../..");

/** The SDK packages a guest may import, linked into the project. */
const SDK_PACKAGES = ["abi", "guest-kernel", "drivers"] as const;

/** A project name npm accepts, from the folder's name. */
function packageName(dir: string): string {
  const n = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[._-]+/, "");
  return n || "pvkit-guest";
}

const MAIN_TS = `/**
 * A pvkit guest program: the domain's init. \`k\` is the kernel as a program sees it: console, time,
 * xenstore, event channels and grants to other domains (k.events, k.grants), and every hypercall
 * typed (k.hc). When main returns the domain powers off; if it throws, the domain crashes with the
 * error as the reason (\`pvkit dmesg\` shows it).
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  const name = await k.xenstore.read("name");
  k.print(\`hello from \${name}, domain \${k.domid}\`);
  const t0 = k.time.uptimeMs();
  await k.sleep(50);
  k.print(\`slept \${Math.round(k.time.uptimeMs() - t0)} ms; bye\`);
}
`;

const cfg = (name: string) => `# xl.cfg(5) syntax: \`npm run create\` (or pvkit create guest.cfg -c) boots it.
name = "${name}"
kernel = "main.ts"
memory = 16
on_poweroff = "destroy"
on_crash = "preserve"
`;

/** Writes the project into `dir` (created if missing; refused if it holds anything). */
export function initProject(dir: string): string[] {
  const root = resolve(dir);
  if (existsSync(root) && readdirSync(root).length > 0) {
    throw new CliError(`pvkit: init ${dir}: the folder is not empty (pvkit init only fills a new one)`);
  }
  mkdirSync(root, { recursive: true });
  const name = packageName(root);
  const node = JSON.stringify(process.execPath);
  const tsc = JSON.stringify(join(REPO, "node_modules/typescript/bin/tsc"));
  const pvkit = `${node} ${JSON.stringify(join(REPO, "node_modules/tsx/dist/cli.mjs"))} ${JSON.stringify(
    join(REPO, "hypervisor/src/cli/main.ts"),
  )}`;
  const files: Record<string, string> = {
    "package.json": JSON.stringify(
      {
        name,
        private: true,
        type: "module",
        description: "A pvkit guest program",
        scripts: {
          typecheck: `${node} ${tsc} --noEmit -p .`,
          up: `${pvkit} up`,
          create: `${pvkit} create guest.cfg -c`,
          pvkit,
        },
      },
      null,
      2,
    ),
    "tsconfig.json": JSON.stringify(
      {
        compilerOptions: {
          target: "ES2022",
          lib: ["ES2024"],
          module: "ESNext",
          moduleResolution: "Bundler",
          allowImportingTsExtensions: true,
          noEmit: true,
          strict: true,
          isolatedModules: true,
          verbatimModuleSyntax: true,
          skipLibCheck: true,
          types: [],
        },
        // The realm's globals (timers, TextEncoder, ...): a guest has these and nothing of Node's.
        include: ["*.ts", "src", "node_modules/@pvkit/guest-kernel/types/realm.d.ts"],
      },
      null,
      2,
    ),
    "main.ts": MAIN_TS,
    "guest.cfg": cfg(name),
    ".gitignore": "node_modules/\n",
  };
  for (const [file, text] of Object.entries(files))
    writeFileSync(join(root, file), text.endsWith("\n") ? text : text + "\n");
  mkdirSync(join(root, "node_modules/@pvkit"), { recursive: true });
  for (const p of SDK_PACKAGES) symlinkSync(join(REPO, p), join(root, "node_modules/@pvkit", p), "dir");
  return [
    ...Object.keys(files),
    ...SDK_PACKAGES.map((p) => `node_modules/@pvkit/${p} -> ${relative(root, join(REPO, p))}`),
  ];
}
