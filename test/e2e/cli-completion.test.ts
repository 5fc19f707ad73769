/**
 * `pvkit completion bash`, as bash runs it: the script is sourced in a real bash, COMP_WORDS and
 * COMP_CWORD are set as readline would set them, the completion function runs, and COMPREPLY is what
 * TAB would offer. Domain names come from the stage's running host, through the CLI itself.
 */
import { execFile, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-completion-");
const { dir, pvkit } = stage;

/** Runs a shell; resolves with its output's non-empty lines. */
function run(shell: string, args: string[]): Promise<string[]> {
  return new Promise((resolve, reject) =>
    execFile(shell, args, { cwd: dir, timeout: 60_000 }, (e, out, err) =>
      e ? reject(new Error(`${shell} failed: ${err}`)) : resolve(out.split("\n").filter(Boolean)),
    ),
  );
}

function hasZsh(): boolean {
  return spawnSync("zsh", ["-fc", "true"]).status === 0;
}

/** What bash offers for `words` with the cursor on the last one (COMP_CWORD = its index). */
function complete(script: string, words: string[]): Promise<string[]> {
  const program = [
    `source ${JSON.stringify(script)}`,
    `COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")})`,
    `COMP_CWORD=${words.length - 1}`,
    "_pvkit",
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ].join("\n");
  return run("bash", ["--noprofile", "--norc", "-c", program]);
}

describe("pvkit completion", { timeout: 120_000 }, () => {
  it("bash: commands, options and the running domains' names", async () => {
    const gen = await pvkit(["completion", "bash"]);
    expect(gen.code, gen.err).toBe(0);
    const script = join(dir, "pvkit.bash");
    writeFileSync(script, gen.out);

    expect(await complete(script, ["pvkit", "cre"])).toEqual(["create"]);
    expect(await complete(script, ["pvkit", "xenstore-r"])).toEqual(["xenstore-read", "xenstore-rm"]);
    expect(await complete(script, ["pvkit", "create", "--ins"])).toEqual(["--inspect", "--inspect-brk"]);
    expect(await complete(script, ["pvkit", "list", "-"])).toEqual(
      expect.arrayContaining(["--json", "-l", "--long"]),
    );
    expect(await complete(script, ["pvkit", "completion", ""])).toEqual(["bash", "zsh"]);
    expect(await complete(script, ["pvkit", "help", "vcpu"])).toEqual(["vcpu-list"]);
    expect(await complete(script, ["pvkit", "--socket", stage.host.socket, "xenstore-read", ""])).toEqual([]);

    for (const name of ["web", "worker"])
      expect((await pvkit(["create", stage.cfg(name, join(REPO, "test/guests/idle.ts"))])).code).toBe(0);
    const socket = ["--socket", stage.host.socket];
    expect(await complete(script, ["pvkit", ...socket, "console", ""])).toEqual([
      "Domain-0",
      "web",
      "worker",
    ]);
    expect(await complete(script, ["pvkit", ...socket, "console", "w"])).toEqual(["web", "worker"]);
    // mem-set <domain> <size>: the domain, then nothing to offer for the size.
    expect(await complete(script, ["pvkit", ...socket, "mem-set", "wo"])).toEqual(["worker"]);
    expect(await complete(script, ["pvkit", ...socket, "mem-set", "worker", ""])).toEqual([]);
    // create <cfg>: files.
    expect(await complete(script, ["pvkit", "create", "pvkit.b"])).toEqual(["pvkit.bash"]);
    for (const name of ["web", "worker"]) expect((await pvkit(["destroy", name])).code).toBe(0);
  });

  it("zsh: a script that registers itself and offers the same commands and domains", async () => {
    const gen = await pvkit(["completion", "zsh"]);
    expect(gen.code, gen.err).toBe(0);
    expect(gen.out).toMatch(/^#compdef pvkit\n/);
    expect(gen.out).toContain("'create:create a domain from an xl.cfg-style file'");
    const script = join(dir, "pvkit.zsh");
    writeFileSync(script, gen.out);
    if (!hasZsh()) return; // the script's text is all there is to check without a zsh
    // Outside a completion widget zsh has no compadd, _describe or compdef: stand-ins print what
    // the script hands them, and `words`/`CURRENT` are set as the widget would set them.
    const offered = (words: string[]) =>
      run("zsh", [
        "-f",
        "-c",
        [
          `compdef() { print -r -- "compdef $*"; }`,
          `compadd() { shift; print -l -r -- "$@"; }`,
          `_describe() { local -a entries; entries=("\${(@P)4}"); print -l -r -- "\${entries[@]%%:*}"; }`,
          `source ${JSON.stringify(script)}`,
          `words=(${words.map((w) => `'${w}'`).join(" ")}); CURRENT=${words.length}; _pvkit`,
        ].join("\n"),
      ]);
    expect(await offered(["pvkit", ""])).toEqual(
      expect.arrayContaining(["compdef _pvkit pvkit", "create", "top"]),
    );
    expect((await offered(["pvkit", "completion", ""])).slice(1)).toEqual(["bash", "zsh"]);
    expect((await pvkit(["create", stage.cfg("zweb", join(REPO, "test/guests/idle.ts"))])).code).toBe(0);
    const domains = await offered(["pvkit", "--socket", stage.host.socket, "console", ""]);
    expect(domains.slice(1)).toEqual(["Domain-0", "zweb"]);
    expect((await pvkit(["destroy", "zweb"])).code).toBe(0);
  });
});
