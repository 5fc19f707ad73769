/**
 * `pvkit init` as a new user meets it: a project in a folder outside the repository that type-checks
 * with its own script (and fails on a program that names what a guest does not have), and whose
 * cfg boots on a running host with the program's output on the console.
 */
import { execFile } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-init-");

/** `npm run -s <script>` in `cwd`: exit status and output. */
function npmRun(cwd: string, script: string): Promise<{ code: number; out: string }> {
  return new Promise((done) =>
    execFile("npm", ["run", "-s", script], { cwd, timeout: 100_000 }, (e, out, err) =>
      done({ code: e ? Number((e as { code?: number }).code ?? -1) : 0, out: out + err }),
    ),
  );
}

describe("pvkit init", { timeout: 120_000 }, () => {
  const proj = join(stage.dir, "my-guest");

  it("makes a project that type-checks against the SDK and boots", async () => {
    const made = await stage.pvkit(["init", proj]);
    expect(made.err).toBe("");
    expect(made.code).toBe(0);
    expect(made.out).toMatch(/main\.ts[\s\S]*guest\.cfg[\s\S]*node_modules\/@pvkit\/guest-kernel ->/);
    expect(await npmRun(proj, "typecheck")).toEqual({ code: 0, out: "" });

    // As `npm run create` does: create with the console attached, so nothing the guest prints in
    // its 50 ms of life is missed (attaching afterwards would race its poweroff).
    const created = await stage.pvkit(["create", "-c", join(proj, "guest.cfg")]);
    expect(created.err).toBe("");
    expect(created.out).toMatch(/hello from my-guest, domain \d+/);
    expect(created.out).toMatch(/slept \d+ ms; bye/);
  });

  it("type-checks what a guest has: a program naming Node's `process` fails", async () => {
    const main = join(proj, "main.ts");
    const good = readFileSync(main, "utf8");
    appendFileSync(main, "\nexport const pid: number = process.pid;\n");
    try {
      const r = await npmRun(proj, "typecheck");
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/main\.ts.*Cannot find name 'process'/);
    } finally {
      writeFileSync(main, good);
    }
  });

  it("type-checks the two-guest ping-pong example copied into it (docs/guest-programs.md)", async () => {
    mkdirSync(join(proj, "src"), { recursive: true });
    for (const f of ["ping.ts", "pong.ts", "checksum.ts"])
      copyFileSync(join(REPO, "examples/pingpong", f), join(proj, "src", f));
    expect(await npmRun(proj, "typecheck")).toEqual({ code: 0, out: "" });
  });

  it("refuses a folder that is not empty, in one line", async () => {
    const again = await stage.pvkit(["init", proj]);
    expect(again.code).toBe(1);
    expect(again.err).toBe(
      `pvkit: init ${proj}: the folder is not empty (pvkit init only fills a new one)\n`,
    );
  });
});
