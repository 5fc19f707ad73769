/**
 * Golden tests: the tiny fixture ABI (every schema kind) in, the expected generated files out.
 * `UPDATE_GOLDEN=1 pnpm exec vitest run codegen/test/golden.test.ts` rewrites the expectations.
 */
import { cp, readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { FIXTURES, read, runCodegen, tempRoot } from "./helpers.ts";

async function list(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe("golden: fixtures/tiny", () => {
  it("generates exactly the expected files", async () => {
    const root = await tempRoot();
    const r = await runCodegen(["--abi", join(FIXTURES, "tiny/abi.ts"), "--root", root]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const expectedDir = join(FIXTURES, "tiny/expected");
    if (process.env.UPDATE_GOLDEN) await cp(root, expectedDir, { recursive: true });
    const got = await list(root);
    expect(got).toEqual(await list(expectedDir));
    for (const f of got) expect(await read(join(root, f)), f).toBe(await read(join(expectedDir, f)));
  });

  it("is idempotent: a second run writes nothing and --check passes", async () => {
    const root = await tempRoot();
    const abiArg = ["--abi", join(FIXTURES, "tiny/abi.ts"), "--root", root];
    await runCodegen(abiArg);
    const again = await runCodegen(abiArg);
    expect(again.out).toMatch(/0 of 8 files written/);
    expect((await runCodegen([...abiArg, "--check"])).code).toBe(0);
  });
});
