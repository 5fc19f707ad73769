/**
 * The generated C header compiles with gcc -Wall -Werror, and its _Static_asserts (every sizeof and
 * offsetof from the layout pass) hold under a real C compiler. gcc ships with the machine (and .ci/run).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FIXTURES, REPO, runCodegen, tempRoot } from "./helpers.ts";

const hasGcc = spawnSync("gcc", ["--version"]).status === 0;
if (!hasGcc && process.env.CI) throw new Error("gcc is required in CI (.ci/run installs it)");

function compile(include: string, dir: string) {
  const src = join(dir, "use.c");
  return writeFile(src, `#include "${include}"\nint main(void) { return 0; }\n`).then(() =>
    execFileSync("gcc", ["-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", src], { stdio: "pipe" }),
  );
}

describe.skipIf(!hasGcc)("C header (needs gcc)", () => {
  it("the tiny fixture's header compiles and its layout asserts hold", async () => {
    const root = await tempRoot();
    expect((await runCodegen(["--abi", join(FIXTURES, "tiny/abi.ts"), "--root", root])).code).toBe(0);
    await expect(compile(join(root, "abi/include/pvkit/abi.h"), root)).resolves.toBeDefined();
  });

  it("the workspace's header compiles", async () => {
    const dir = await tempRoot();
    await expect(compile(join(REPO, "abi/include/pvkit/abi.h"), dir)).resolves.toBeDefined();
  });

  it("a wrong offset in the header is caught by the compiler", async () => {
    const root = await tempRoot();
    await runCodegen(["--abi", join(FIXTURES, "tiny/abi.ts"), "--root", root]);
    const h = join(root, "abi/include/pvkit/abi.h");
    const text = (await import("node:fs")).readFileSync(h, "utf8");
    await writeFile(
      h,
      text.replace("offsetof(struct demo_pair, b) == 8", "offsetof(struct demo_pair, b) == 4"),
    );
    await expect(compile(h, root)).rejects.toThrow(/offsetof demo_pair\.b/);
  });
});
