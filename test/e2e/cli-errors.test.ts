/**
 * The CLI with bad input, as a user meets it: every failure is one line, `pvkit: <what>: <why>`,
 * naming the file, domain or node, with exit status 1 — never a raw errno, never a silent success.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-cli-");
const { dir, pvkit, cfg } = stage;

/**
 * One line on stderr, "pvkit: " first, matching `what`; status 1; no errno in sight. The stage's
 * directory is taken out before the errno check: mkdtemp's random suffix can spell one ("3YETJL").
 */
function oneLineError(r: { code: number; err: string }, what: RegExp): void {
  expect(r.code).toBe(1);
  expect(r.err.endsWith("\n") && r.err.split("\n").length).toBe(2);
  expect(r.err).toMatch(/^pvkit: /);
  expect(r.err).toMatch(what);
  expect(r.err.replaceAll(dir, "<stage>")).not.toMatch(/\b-?E[A-Z]{3,}\b|\(-\d+\)|errno/);
}

describe("the pvkit CLI with bad input", { timeout: 120_000 }, () => {
  it("create: a missing config file, a kernel that is not there", async () => {
    oneLineError(await pvkit(["create", join(dir, "nope.cfg")]), /nope\.cfg: cannot read the config file/);
    const file = cfg("ghost", join(dir, "no-such-guest.ts"));
    oneLineError(await pvkit(["create", file]), /ghost\.cfg: kernel: .*no-such-guest\.ts: no such file/);
    expect((await pvkit(["list"])).out).not.toContain("ghost");
  });

  it("console: dom0, and a domain that is gone", async () => {
    oneLineError(await pvkit(["console", "0"]), /^pvkit: console 0: dom0's console is the host's terminal/);
    oneLineError(await pvkit(["console", "nosuch"]), /no domain "nosuch"/);
  });

  it("console with piped input ends after the input does, with the guest's answer printed", async () => {
    const file = cfg("piped", join(REPO, "examples/guests/shell.ts"));
    expect((await pvkit(["create", file])).code).toBe(0);
    await stage.console("piped", "", /dom\d+\$ $/); // the piped line then meets a shell that is up
    const r = await pvkit(["console", "piped"], "echo over-the-pipe\n");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^over-the-pipe\r?$/m);
    expect((await pvkit(["destroy", "piped"])).code).toBe(0);
    oneLineError(await pvkit(["console", "piped"]), /no domain "piped"/);
  });

  it("xenstore commands name the node and say why in words", async () => {
    oneLineError(await pvkit(["xenstore-read", "/nope"]), /^pvkit: xenstore-read \/nope: no such node$/m);
    oneLineError(
      await pvkit(["xenstore-write", "@foo", "x"]),
      /^pvkit: xenstore-write @foo: not a valid path$/m,
    );
    oneLineError(await pvkit(["xenstore-ls", "/a//b"]), /^pvkit: xenstore-ls \/a\/\/b: not a valid path$/m);
  });

  it("list takes domains by name or id, and --json; --version answers", async () => {
    const one = await pvkit(["list", "0"]);
    expect(one.out.split("\n")[1]).toMatch(/^Domain-0 +0 /);
    const json = JSON.parse((await pvkit(["list", "--json"])).out) as { name: string; domid: number }[];
    expect(json.find((d) => d.domid === 0)?.name).toBe("Domain-0");
    oneLineError(await pvkit(["list", "nosuch"]), /^pvkit: list nosuch: no such domain$/m);
    expect((await pvkit(["--version"])).out).toMatch(/^pvkit \d+\.\d+\.\d+\n$/);
    const vcpus = (await pvkit(["vcpu-list", "Domain-0"])).out.split("\n");
    expect(vcpus[0]).toMatch(/^Name +ID +VCPU +CPU +State +Time\(s\) Affinity \(Hard \/ Soft\)$/);
    expect(vcpus[1]).toMatch(/^Domain-0 +0 +0 +- +[r-][b-]- +\d+\.\d all \/ all$/);
  });

  it("mem-set moves the balloon within maxmem; mem-max raises the ceiling", async () => {
    const file = cfg("ballooned", join(REPO, "examples/guests/shell.ts"));
    expect((await pvkit(["create", file])).code).toBe(0);
    await stage.console("ballooned", "", /dom\d+\$ $/); // its balloon driver is watching memory/target
    const mem = async () => Number((await pvkit(["list", "ballooned"])).out.split("\n")[1].split(/ +/)[2]);
    expect((await pvkit(["mem-set", "ballooned", "8"])).code).toBe(0);
    while ((await mem()) !== 8) await new Promise((r) => setTimeout(r, 100)); // until it shrank
    oneLineError(
      await pvkit(["mem-set", "ballooned", "64"]),
      /^pvkit: mem-set ballooned: 64 MiB is above its maxmem of 16 MiB \(raise it with mem-max\)$/m,
    );
    expect((await pvkit(["mem-max", "ballooned", "32"])).code).toBe(0);
    expect((await pvkit(["mem-set", "ballooned", "24m"])).code).toBe(0);
    while ((await mem()) !== 24) await new Promise((r) => setTimeout(r, 100)); // until it grew
    oneLineError(await pvkit(["mem-set", "ballooned", "lots"]), /^pvkit: "lots" is not a size/m);
    oneLineError(await pvkit(["mem-set", "0", "8"]), /dom0/);
    expect((await pvkit(["destroy", "ballooned"])).code).toBe(0);
  });

  it("commander's own errors carry the same prefix and status", async () => {
    oneLineError(await pvkit(["bogus"]), /^pvkit: unknown command 'bogus'/);
    oneLineError(await pvkit(["create"]), /^pvkit: missing required argument 'cfg'/);
    oneLineError(await pvkit(["pause", "nosuch"]), /no domain "nosuch"/);
  });
});
