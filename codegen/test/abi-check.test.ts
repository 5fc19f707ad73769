/**
 * ABI compatibility: additions pass, removals/renumberings/moved fields are refused unless the major
 * version is bumped, and a summary committed to git earlier still catches a break after the working
 * summary was regenerated.
 */
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compare } from "../src/abi-check.ts";
import { REPO, read, runCodegen, tempRoot } from "./helpers.ts";

const TINY = join(REPO, "codegen/test/fixtures/tiny/abi.ts");

/** Writes an ABI module that edits the tiny fixture with the JS expression `edit(t)`. */
async function variant(root: string, name: string, edit: string, major = 1): Promise<string> {
  const path = join(root, `${name}.ts`);
  await writeFile(
    path,
    `import { abi as t } from ${JSON.stringify(TINY)};
const defs: any[] = structuredClone([...t.definitions]);
const find = (n: string) => defs.find((d) => d.name === n);
${edit}
export const abi = { ...t, version: { major: ${major}, minor: 0 }, definitions: defs };`,
  );
  return path;
}

async function baseline(): Promise<string> {
  const root = await tempRoot("pvkit-abicheck-");
  await mkdir(join(root, "out"));
  const r = await runCodegen(["--abi", TINY, "--root", join(root, "out")]);
  expect(r.code).toBe(0);
  return root;
}

describe("compare", () => {
  it("classifies additions and breaks by key", () => {
    const r = compare(
      ["hypercall a 1", "field s.x 0 u32 in"],
      ["hypercall a 1", "hypercall b 2", "field s.x 4 u32 in"],
    );
    expect(r.additions).toEqual(["hypercall b 2"]);
    expect(r.breaks).toEqual(["changed: field s.x 0 u32 in  →  field s.x 4 u32 in"]);
  });
});

describe("pnpm codegen / abi:check against the committed summary", () => {
  const breaking: [string, string][] = [
    ["a removed hypercall", `defs.splice(defs.indexOf(find("demo_timer")), 1);`],
    ["a renumbered sub-op", `find("demo_op").subops[0].number = 9;`],
    ["a moved field", `find("demo_rsp").fields.reverse();`],
  ];

  it.each(breaking)("refuses %s without a major bump, accepts it with one", async (_, edit) => {
    const root = await baseline();
    const out = join(root, "out");
    const before = await read(join(out, "abi/abi.summary"));
    const bad = await variant(root, "bad", edit);
    const refused = await runCodegen(["--abi", bad, "--root", out]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/ABI break\(s\) without a major version bump/);
    expect(await read(join(out, "abi/abi.summary"))).toBe(before);
    expect((await runCodegen(["--abi", bad, "--root", out, "--abi-check"])).code).toBe(1);

    const bumped = await variant(root, "bumped", edit, 2);
    expect((await runCodegen(["--abi", bumped, "--root", out])).code).toBe(0);
    expect(await read(join(out, "abi/abi.summary"))).toMatch(/^# @generated.*\nabi-version 2\.0\n/);
    expect((await runCodegen(["--abi", bumped, "--root", out, "--abi-check"])).code).toBe(0);
  });

  it("allows an addition, and abi:check asks for the summary to be regenerated", async () => {
    const root = await baseline();
    const out = join(root, "out");
    const added = await variant(
      root,
      "added",
      `defs.push({ ...find("demo_timer"), name: "demo_timer2", number: 69 });`,
    );
    // The baseline's summary is committed, as in a real checkout.
    const git = (...args: string[]) => execFileSync("git", args, { cwd: out, stdio: "pipe" });
    git("init", "-q");
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", "-A");
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "abi 1.0");
    const stale = await runCodegen(["--abi", added, "--root", out, "--abi-check"]);
    expect(stale.code).toBe(1);
    expect(stale.err).toMatch(/stale \(\d+ additions\)/);
    expect((await runCodegen(["--abi", added, "--root", out])).code).toBe(0);
    // Regenerated, the summary holds the addition; abi:check counts it against the committed one.
    const ok = await runCodegen(["--abi", added, "--root", out, "--abi-check"]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/[1-9]\d* additions since commit [0-9a-f]{10}, 0 breaks/);
  });

  it("a summary committed earlier still catches a break hidden by regenerating the summary", async () => {
    const root = await baseline();
    const out = join(root, "out");
    const git = (...args: string[]) => execFileSync("git", args, { cwd: out, stdio: "pipe" });
    git("init", "-q");
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", "-A");
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "abi 1.0");
    // Someone breaks the ABI, bumps the major, regenerates, then quietly lowers the major again.
    const edit = `find("demo_op").subops[0].number = 9;`;
    await runCodegen(["--abi", await variant(root, "bumped", edit, 2), "--root", out]);
    const summary = await read(join(out, "abi/abi.summary"));
    await writeFile(join(out, "abi/abi.summary"), summary.replace("abi-version 2.0", "abi-version 1.0"));
    const sneaky = await runCodegen([
      "--abi",
      await variant(root, "sneaky", edit, 1),
      "--root",
      out,
      "--abi-check",
    ]);
    expect(sneaky.code).toBe(1);
    expect(sneaky.err).toMatch(/changed: subop demo_op\.pair 0 .*against commit/);
  });
});
