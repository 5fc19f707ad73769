/**
 * docs/adding-a-hypercall.md, followed as written: its code blocks and the lines it tells you to add
 * are taken from the page itself, and applied in a scratch copy of the workspace — definition,
 * codegen, tsc naming the handler the hypervisor lacks, the handler, tsc passing, abi:check counting
 * the addition — and then the guest of step 5 boots and prints the hypervisor's greeting. A
 * workspace where someone already did the tutorial is first put back without it.
 */
import { execFileSync } from "node:child_process";
import { cp, mkdir, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, tempRoot } from "./helpers.ts";

const PAGE = join(REPO, "docs/adding-a-hypercall.md");
const PACKAGES = ["abi", "codegen", "hypervisor", "guest-kernel", "drivers", "examples", "docs"];

/** The page's ```ts blocks, in order, and the inline code it asks you to add. */
async function tutorial() {
  const page = await readFile(PAGE, "utf8");
  const blocks = [...page.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  const inline = (re: RegExp) => {
    const m = re.exec(page);
    if (!m) throw new Error(`docs/adding-a-hypercall.md no longer says ${re}`);
    return m[1];
  };
  return {
    definition: blocks[0],
    handler: blocks[1],
    guest: blocks[2],
    abiImport: inline(/`(import \* as pvkitHello from "[^"]+";)`/),
    abiEntry: inline(/`(\.\.\.all\(pvkitHello\),)`/),
    tableImport: inline(/`(import \{ pvkitHello \} from "[^"]+";)`/),
    tableEntry: inline(/`(pvkitHello,)`/),
    guestPath: inline(/Save this as `([^`]+)`/),
  };
}

function sh(cwd: string, cmd: string, args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: "pipe" }) };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

/** The scratch workspace: the packages copied, node_modules shared, the tutorial undone if done. */
async function scratch(): Promise<string> {
  const root = await tempRoot("pvkit-flow-");
  for (const dir of PACKAGES)
    await cp(join(REPO, dir), join(root, dir), { recursive: true, verbatimSymlinks: true });
  for (const f of ["package.json", ".prettierrc.json", "tsconfig.json"])
    await cp(join(REPO, f), join(root, f));
  // Root node_modules: the real one's entries; each package's own node_modules links (relatively)
  // to its workspace siblings, so @pvkit/* resolves inside the copy.
  await mkdir(join(root, "node_modules"));
  for (const e of await readdir(join(REPO, "node_modules")))
    await symlink(join(REPO, "node_modules", e), join(root, "node_modules", e));
  await rm(join(root, "abi/src/defs/pvkit_hello.ts"), { force: true });
  await rm(join(root, "hypervisor/src/hypercalls/pvkit_hello.ts"), { force: true });
  const strip = async (file: string, re: RegExp) =>
    writeFile(join(root, file), (await readFile(join(root, file), "utf8")).replace(re, ""));
  await strip("abi/src/abi.ts", /^.*pvkitHello.*\n/gm);
  await strip("hypervisor/src/hypercalls/table.ts", /^.*pvkitHello.*\n/gm);
  await strip("abi/abi.summary", /^.*(pvkit_hello|PVKIT_HELLO).*\n/gm);
  return root;
}

describe("adding a hypercall (docs/adding-a-hypercall.md)", () => {
  it("as the page says: definition → codegen → tsc names the handler → handler → tsc → a guest calls it", async () => {
    const t = await tutorial();
    const root = await scratch();
    const node = (...args: string[]) => sh(root, process.execPath, args);
    const tsx = (...args: string[]) => node(join(REPO, "node_modules/tsx/dist/cli.mjs"), ...args);
    const tsc = () => node(join(REPO, "node_modules/typescript/bin/tsc"), "--noEmit", "-p", ".");
    expect(tsx("codegen/src/main.ts").ok).toBe(true); // the copy without the tutorial, regenerated
    expect(tsc()).toMatchObject({ ok: true });

    // 1. The definition, listed in abi/src/abi.ts as the page says.
    await writeFile(join(root, "abi/src/defs/pvkit_hello.ts"), t.definition);
    const abiTs = join(root, "abi/src/abi.ts");
    let abi = await readFile(abiTs, "utf8");
    abi = abi.replace(
      /(import \* as \w+ from "\.\/defs\/[\w]+\.ts";\n)(?![\s\S]*import \* as)/,
      `$1${t.abiImport}\n`,
    );
    abi = abi.replace(/definitions: \[/, `definitions: [\n    ${t.abiEntry}`);
    await writeFile(abiTs, abi);

    // 2. codegen: the SDK and the handler interface grow.
    expect(tsx("codegen/src/main.ts").out).toMatch(/pvkit codegen: .* files written/);
    expect(await readFile(join(root, "abi/src/generated/guest.ts"), "utf8")).toMatch(
      /readonly pvkitHello = \{\s*\/\*\* Write a greeting\. \*\/\s*greet: \(arg: L\.PvkitHelloIn\): L\.PvkitHello/,
    );

    // 3. The compiler names the handler the hypervisor lacks.
    const missing = tsc();
    expect(missing.ok).toBe(false);
    expect(missing.out).toMatch(/hypervisor\/src\/hypercalls\/table\.ts.*Property 'pvkitHello' is missing/s);

    // 4. The handler, listed in the table as the page says.
    await writeFile(join(root, "hypervisor/src/hypercalls/pvkit_hello.ts"), t.handler);
    const tableTs = join(root, "hypervisor/src/hypercalls/table.ts");
    let table = await readFile(tableTs, "utf8");
    table = `${t.tableImport}\n${table}`.replace(
      /(HypercallHandlers<DomainContext> = \{)/,
      `$1\n  ${t.tableEntry}`,
    );
    await writeFile(tableTs, table);

    // 5. The guest, where the page saves it; the whole workspace type-checks with it.
    await writeFile(join(root, t.guestPath), t.guest);
    const ok = tsc();
    expect(ok.out).toBe("");
    expect(ok.ok).toBe(true);

    // It boots, and the hypervisor's greeting comes back through the generated SDK.
    await writeFile(
      join(root, "examples/run-hello.ts"),
      `import { Hypervisor } from "@pvkit/hypervisor/hypervisor";
const hv = new Hypervisor({ cells: false }).boot();
const d = hv.createDomain({ name: "hello", memoryMiB: 16, program: new URL("./guests/hello-hypercall.ts", import.meta.url).href });
await new Promise<void>((done) => hv.on("domain", (e: { domid: number; state: string }) => e.domid === d.domid && e.state === "shutdown" && done()));
console.log(hv.consoleLog(d.domid));
await hv.close();
process.exit(0);
`,
    );
    const run = tsx("examples/run-hello.ts");
    expect(run.out).toContain("hypervisor says 0x48454c4f");

    // abi:check counts the addition (against the summary as the copy had it: no git history here).
    const check = tsx("codegen/src/main.ts", "--abi-check");
    expect(check).toMatchObject({ ok: true });
  }, 300_000);
});
