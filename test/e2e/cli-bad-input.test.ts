/**
 * Every pvkit command with bad input, against a running host. The commands are not listed here:
 * they come from the program itself (`pvkit __commands`), so a command added later is walked too.
 * Each gets what its arguments and options allow to go wrong — an argument missing, one too many, an
 * unknown option, an option without its value or with junk, and per argument a domain that does not
 * exist, a file that is not there or is not a config, a size that is not one, a xenstore path that is
 * not valid, a choice not offered. Every answer must be: exit status 1, exactly one line on stderr,
 * `pvkit: ` first, no errno (no "-ESRCH", no "(-3)"), and the line names what was wrong.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ArgModel, CommandModel, ProgramModel } from "@pvkit/hypervisor/cli/command-model";
import { REPO, e2eStage, type Run } from "./stage.ts";

const stage = e2eStage("pvkit-bad-");
const { dir, pvkit } = stage;

const model = JSON.parse(
  execFileSync(process.execPath, [
    join(REPO, "node_modules/tsx/dist/cli.mjs"),
    join(REPO, "hypervisor/src/cli/main.ts"),
    "__commands",
  ]).toString(),
) as ProgramModel;

/** One bad invocation and what its error line must name. */
interface Case {
  args: string[];
  names: RegExp;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const GOOD_DOMAIN = "victim"; // a running guest, made before the walk
const NOT_A_CFG = join(dir, "not-a.cfg");

/** A value each argument accepts, so that only the argument under test is wrong. */
function good(a: ArgModel): string {
  if (a.kind === "domain") return GOOD_DOMAIN;
  if (a.kind === "choice") return a.choices![0]!;
  if (a.kind === "command") return "list";
  if (a.name === "size") return "8";
  if (a.name === "seconds") return "1";
  if (a.name === "path") return "/local/domain/0/name";
  if (a.kind === "file") return join(REPO, "examples/configs/hello.cfg");
  return "x";
}

/** What can be wrong with an argument, by what it holds. */
function badValues(a: ArgModel): string[] {
  if (a.kind === "domain") return ["no-such-domain"];
  if (a.kind === "file") return [join(dir, "no/such/file.cfg"), dir, NOT_A_CFG];
  if (a.kind === "choice") return ["fish"];
  if (a.kind === "command") return ["no-such-command"];
  if (a.name === "size") return ["lots", "0", "100000g", "8x"];
  if (a.name === "seconds") return ["soon", "0"];
  if (a.name === "path") return ["/a//b", "@bogus"];
  return [];
}

function cases(c: CommandModel): Case[] {
  const out: Case[] = [];
  const full = c.args.map(good);
  const required = c.args.filter((a) => a.required);
  if (required.length > 0) out.push({ args: [c.name], names: new RegExp(`'${esc(required[0]!.name)}'`) });
  if (!c.args.some((a) => a.variadic))
    out.push({
      args: [c.name, ...full, "extra-junk"],
      names: new RegExp(`'${esc(c.name)}'|extra-junk`),
    });
  out.push({ args: [c.name, "--no-such-option"], names: /--no-such-option/ });
  c.args.forEach((a, i) => {
    for (const bad of badValues(a)) {
      const given = [...full];
      given[i] = bad;
      out.push({ args: [c.name, ...given], names: new RegExp(esc(bad)) });
    }
  });
  for (const o of c.options.filter((o) => o.takesValue)) {
    const flag = o.flags[o.flags.length - 1]!;
    out.push({ args: [c.name, ...full, flag], names: new RegExp(esc(flag)) });
    const junk = o.fileValue ? join(dir, "no/such/dir/out") : "junk";
    out.push({ args: [c.name, flag, junk, ...full], names: new RegExp(esc(junk)) });
  }
  return out;
}

/** One line on stderr, "pvkit: " first, naming `names`; status 1; no errno in sight. */
function expectOneLineError(r: Run, names: RegExp, args: string[]): void {
  const what = `pvkit ${args.join(" ")} -> status ${r.code}, stderr ${JSON.stringify(r.err)}`;
  expect(r.code, what).toBe(1);
  expect(r.err.endsWith("\n") && r.err.split("\n").length === 2, what).toBe(true);
  expect(r.err, what).toMatch(/^pvkit: /);
  // The stage's folder is named at random ("pvkit-bad-EYzg29" once): it is not an errno.
  expect(r.err.replaceAll(dir, "<dir>"), what).not.toMatch(/-E[A-Z]+|\(-\d+\)/);
  expect(r.err, what).toMatch(names);
}

describe("every pvkit command with bad input", { timeout: 600_000 }, () => {
  it("the program lists its commands, with their arguments", () => {
    const names = model.commands.map((c) => c.name);
    for (const n of ["create", "list", "console", "mem-set", "top", "completion", "xenstore-read"])
      expect(names).toContain(n);
    expect(model.commands.find((c) => c.name === "mem-set")!.args.map((a) => a.kind)).toEqual([
      "domain",
      "other",
    ]);
  });

  it("a host to be wrong against: a running guest, a file that is no config", async () => {
    writeFileSync(NOT_A_CFG, "this is = = not a config\n");
    expect((await pvkit(["create", stage.cfg(GOOD_DOMAIN, join(REPO, "test/guests/idle.ts"))])).code).toBe(0);
  });

  for (const c of model.commands)
    it(`${c.name}: each bad input is one line naming what is wrong`, async () => {
      // Two at a time: each is a CLI process of its own on a small shared machine.
      const all = cases(c);
      for (let i = 0; i < all.length; i += 2) {
        const batch = all.slice(i, i + 2);
        const runs = await Promise.all(batch.map((k) => pvkit(k.args)));
        runs.forEach((r, j) => expectOneLineError(r, batch[j]!.names, batch[j]!.args));
      }
    });

  it("a domain that has shut down but is kept (on_poweroff = preserve) is named as such", async () => {
    const file = join(dir, "kept.cfg");
    writeFileSync(
      file,
      `name = "kept"\nkernel = "${join(REPO, "examples/hello-guest.ts")}"\nmemory = 16\n` +
        `on_poweroff = "preserve"\n`,
    );
    expect((await pvkit(["create", file])).code).toBe(0);
    while (!(await pvkit(["list", "kept"])).out.includes("s-")) await new Promise((r) => setTimeout(r, 100));
    for (const args of [
      ["pause", "kept"],
      ["unpause", "kept"],
      ["console", "kept"],
      ["reboot", "kept"],
      ["shutdown", "kept"],
    ])
      expectOneLineError(await pvkit(args), /kept/, args);
    expect((await pvkit(["destroy", "kept"])).code).toBe(0);
  });

  it("a host that is not there is named by its socket", async () => {
    const nowhere = join(dir, "no-host/control.sock");
    for (const args of [
      ["--socket", nowhere, "list"],
      ["--socket", nowhere, "top", "-b", "-i", "1"],
    ])
      expectOneLineError(await pvkit(args), new RegExp(`no host running at ${esc(nowhere)}`), args);
  });

  it("mem-max below what a domain holds, and commands aimed at dom0", async () => {
    for (const args of [
      ["mem-max", GOOD_DOMAIN, "1"],
      ["mem-set", "Domain-0", "8"],
      ["destroy", "0"],
      ["console", "Domain-0"],
    ])
      expectOneLineError(await pvkit(args), /victim|dom0|Domain-0|\b0\b/, args);
  });
});
