/**
 * `pvkit create` waits for the guest to boot: a program that throws while it loads, or has no main,
 * makes create fail in one line with the reason the hypervisor logged (and leaves no domain behind);
 * a program that finishes at once is reported as finished; a good one is just "Created". dmesg
 * names domains by their cfg names, even once they are gone.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-boot-");

/** A cfg running a program whose source is `code`, in a project folder of its own. */
function guest(name: string, code: string, extra = ""): string {
  const dir = join(stage.dir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "main.ts"), code);
  writeFileSync(join(dir, "guest.cfg"), `name = "${name}"\nkernel = "main.ts"\nmemory = 8\n${extra}`);
  return join(dir, "guest.cfg");
}

describe("pvkit create waits for the boot", { timeout: 120_000 }, () => {
  it("fails when the program throws while loading, with the error, and keeps no domain", async () => {
    const r = await stage.pvkit(["create", guest("loadfail", 'throw new Error("no config for you");\n')]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toMatch(/^pvkit: create loadfail: it crashed while booting: .*no config for you.*\n$/);
    expect(r.err.split("\n")).toHaveLength(2);
    expect((await stage.pvkit(["list"])).out).not.toContain("loadfail");
  });

  it("fails when the program has no main, and says so", async () => {
    const r = await stage.pvkit(["create", guest("nomain", "export const x = 1;\n")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^pvkit: create nomain: it crashed while booting: .*has no default export function main\(k\)/,
    );
  });

  it("keeps a crashed domain when its cfg says on_crash = preserve, and says how to remove it", async () => {
    const cfg = guest("keepme", 'throw new Error("kept");\n', 'on_crash = "preserve"\n');
    const r = await stage.pvkit(["create", cfg]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/kept for inspection by on_crash; pvkit destroy keepme removes it/);
    expect((await stage.pvkit(["list", "keepme"])).code).toBe(0);
    expect((await stage.pvkit(["destroy", "keepme"])).code).toBe(0);
  });

  it("says Created for a booting guest, and 'already powered off' for one that finished first", async () => {
    const ok = await stage.pvkit([
      "create",
      guest(
        "sleeper",
        "export default async (k: { sleep(ms: number): Promise<void> }) => k.sleep(60_000);\n",
      ),
    ]);
    expect(ok).toMatchObject({ code: 0, err: "" });
    expect(ok.out).toMatch(/^Created domain sleeper \(id \d+\)\n$/);
    // A program that returns at once may power off before create has seen it boot: either is true.
    const quick = await stage.pvkit(["create", guest("quick", "export default async () => {};\n")]);
    expect(quick).toMatchObject({ code: 0, err: "" });
    expect(quick.out).toMatch(/^Created domain quick \(id \d+\)(; it already powered off)?\n$/);
  });

  it("dmesg names domains as their cfg did, gone ones too", async () => {
    const log = (await stage.pvkit(["dmesg"])).out;
    expect(log).toMatch(/domain \d+ \(loadfail\) shut down: crash \(.*no config for you/);
    expect(log).not.toMatch(/\(domain-\d+\)/);
  });
});
