/**
 * docs/adding-a-hypercall.md, scripted: in a temporary copy of the workspace, add a pvkit hypercall to
 * abi/, run codegen, see tsc name the handler the hypervisor lacks, write it, and see tsc pass.
 */
import { execFileSync } from "node:child_process";
import { cp, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, tempRoot } from "./helpers.ts";

const DEFINITION = `/** A pvkit hypercall added by the tutorial: the hypervisor says hello. */
import { hypercall, struct } from "../schema.ts";

export const pvkitHelloArg = struct({
  name: "pvkit_hello",
  origin: "pvkit",
  doc: "Who is asking, and the greeting number the hypervisor writes back.",
  size: 8,
  fields: [
    { name: "domid", type: "u16", doc: "Caller's domain (filled by the caller)." },
    { name: "greeting", type: "u32", dir: "out", doc: "A number that says hello." },
  ],
});

export const pvkitHello = hypercall({
  name: "pvkit_hello",
  number: 99,
  origin: "pvkit",
  doc: "Say hello.",
  subopPrefix: "PVKIT_HELLO_",
  args: [
    { name: "cmd", kind: "subop", doc: "PVKIT_HELLO_*" },
    { name: "arg", kind: "struct", doc: "Pointer to pvkit_hello." },
  ],
  subops: [{ name: "greet", number: 0, arg: "pvkit_hello", doc: "Write a greeting." }],
});
`;

const HANDLER = `/** pvkit_hello: the tutorial's hypercall. */
import type { HypercallHandlers } from "../generated/handlers.ts";
import type { DomainContext } from "./context.ts";

export const pvkitHello: HypercallHandlers<DomainContext>["pvkitHello"] = {
  greet(_ctx, arg) {
    arg.greeting = 0x48454c4f;
    return 0;
  },
};
`;

function sh(cwd: string, cmd: string, args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: "pipe" }) };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

describe("adding a hypercall (docs/adding-a-hypercall.md)", () => {
  it("definition → codegen → tsc names the missing handler → handler → tsc passes", async () => {
    const root = await tempRoot("pvkit-flow-");
    for (const dir of ["abi", "codegen", "hypervisor", "docs"])
      await cp(join(REPO, dir), join(root, dir), { recursive: true, verbatimSymlinks: true });
    for (const f of ["package.json", ".prettierrc.json"]) await cp(join(REPO, f), join(root, f));
    await symlink(join(REPO, "node_modules"), join(root, "node_modules"));
    await writeFile(
      join(root, "tsconfig.json"),
      (await readFile(join(REPO, "tsconfig.json"), "utf8")).replace(
        /"include": \[[^\]]*\]/,
        '"include": ["abi", "hypervisor/src"]',
      ),
    );
    const tsc = () =>
      sh(root, "node", [join(REPO, "node_modules/typescript/bin/tsc"), "--noEmit", "-p", "."]);
    const codegen = () =>
      sh(root, "node", [join(REPO, "node_modules/tsx/dist/cli.mjs"), "codegen/src/main.ts"]);
    expect(tsc()).toMatchObject({ ok: true });

    // 1. The definition, listed in abi/src/abi.ts.
    await writeFile(join(root, "abi/src/defs/pvkit_hello.ts"), DEFINITION);
    const abiTs = join(root, "abi/src/abi.ts");
    let abi = await readFile(abiTs, "utf8");
    abi = abi.replace(
      /(import \* as \w+ from "\.\/defs\/[\w]+\.ts";\n)(?![\s\S]*import \* as)/,
      `$1import * as pvkitHello from "./defs/pvkit_hello.ts";\n`,
    );
    abi = abi.replace(/definitions: \[/, "definitions: [\n    ...all(pvkitHello),");
    await writeFile(abiTs, abi);

    // 2. codegen: the SDK and the handler interface grow.
    const gen = codegen();
    expect(gen.out).toMatch(/pvkit codegen: .* files written/);
    expect(await readFile(join(root, "abi/src/generated/guest.ts"), "utf8")).toMatch(
      /readonly pvkitHello = \{\s*\/\*\* Write a greeting\. \*\/\s*greet: \(arg: L\.PvkitHelloIn\): L\.PvkitHello/,
    );

    // 3. The compiler names the handler the hypervisor lacks.
    const missing = tsc();
    expect(missing.ok).toBe(false);
    expect(missing.out).toMatch(/hypervisor\/src\/hypercalls\/table\.ts.*Property 'pvkitHello' is missing/s);

    // 4. Write it and list it in the table.
    await writeFile(join(root, "hypervisor/src/hypercalls/pvkit_hello.ts"), HANDLER);
    const tableTs = join(root, "hypervisor/src/hypercalls/table.ts");
    let table = await readFile(tableTs, "utf8");
    table = `import { pvkitHello } from "./pvkit_hello.ts";\n${table}`;
    table = table.replace(/(HypercallHandlers<DomainContext> = \{)/, "$1\n  pvkitHello,");
    await writeFile(tableTs, table);
    const ok = tsc();
    expect(ok.out).toBe("");
    expect(ok.ok).toBe(true);
  }, 120_000);
});
