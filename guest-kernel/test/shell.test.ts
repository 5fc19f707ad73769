import { describe, expect, it } from "vitest";
import { builtinCommands, formatUptime } from "../src/shell/commands.ts";
import { parseLine, runLine, runShell } from "../src/shell/shell.ts";
import { fakeHandle } from "./helpers/fake-handle.ts";

const run = async (line: string, h = fakeHandle()) => {
  await runLine(line, h.k, builtinCommands());
  return h;
};

describe("shell line parsing", () => {
  it("splits words with quotes and escapes", () => {
    expect(parseLine("  echo  a   b ")).toEqual(["echo", "a", "b"]);
    expect(parseLine(`xs-write name "hello world" 'x y'`)).toEqual([
      "xs-write",
      "name",
      "hello world",
      "x y",
    ]);
    expect(parseLine(`echo a\\ b "q\\"q" ''`)).toEqual(["echo", "a b", 'q"q', ""]);
    expect(parseLine("")).toEqual([]);
    expect(parseLine(`echo "unterminated`)).toEqual(["echo", "unterminated"]);
  });
});

describe("shell commands", () => {
  it("echo, uptime, free, ps, dmesg print what the kernel reports", async () => {
    expect((await run("echo hi there")).out).toEqual(["hi there"]);
    expect((await run("uptime")).out).toEqual(["up 01:02:03"]);
    const free = (await run("free")).out.join("\n");
    expect(free).toMatch(/total\s+256\s+1024/);
    expect(free).toMatch(/free\s+200\s+800/);
    expect((await run("ps")).out[1]).toMatch(/^\s+1 running\s+-\s+3 init$/);
    expect((await run("dmesg")).out).toEqual(["[    0.000000] booted"]);
    expect(formatUptime(90_061_000)).toBe("1d 01:01:01");
  });

  it("xs-write, xs-read and xs-ls go through the xenstore handle", async () => {
    const h = fakeHandle();
    await run("xs-write data/greeting hello world", h);
    expect(h.store.get("/local/domain/5/data/greeting")).toBe("hello world");
    await run("xs-read data/greeting", h);
    await run("xs-ls /local/domain/5/data", h);
    expect(h.out).toEqual(["hello world", 'greeting = "hello world"']);
  });

  it("reports errors and bad usage as one line and keeps going", async () => {
    const h = fakeHandle();
    await run("xs-read missing", h);
    await run("xs-read", h);
    await run("frobnicate", h);
    expect(h.out).toEqual([
      "xs-read: xenstore ENOENT",
      "usage: xs-read PATH",
      "frobnicate: command not found (try help)",
    ]);
  });

  it("help lists every command, including ones added later", async () => {
    const table = builtinCommands();
    table.register({ name: "lsblk", usage: "lsblk", help: "block devices", run: () => undefined });
    const h = fakeHandle();
    await runLine("help", h.k, table);
    const names = h.out.map((l) => l.split(" ")[0]);
    for (const n of [
      "help",
      "echo",
      "uptime",
      "free",
      "ps",
      "xs-read",
      "xs-write",
      "xs-ls",
      "dmesg",
      "shutdown",
      "reboot",
      "lsblk",
    ]) {
      expect(names).toContain(n);
    }
    expect(() => table.register({ name: "Bad Name", usage: "", help: "", run: () => undefined })).toThrow();
  });

  it("shutdown and reboot ask the kernel for the right kind", async () => {
    expect((await run("shutdown")).shutdowns).toEqual(["poweroff"]);
    expect((await run("reboot")).shutdowns).toEqual(["reboot"]);
  });

  it("the interactive loop prompts, runs each line, and stops when told", async () => {
    const h = fakeHandle(["echo one", "", "devices"]);
    let n = 0;
    await runShell(h.k, builtinCommands(), () => n++ >= 3);
    expect(h.out).toEqual([
      "dom5$ ",
      "one",
      "dom5$ ",
      "dom5$ ",
      "vbd/768 Connected backend=/local/domain/0/backend/vbd/5/768",
    ]);
  });

  it("Ctrl-C gives a fresh prompt when idle and abandons a command that hangs", async () => {
    const h = fakeHandle();
    let fire: () => void = () => undefined;
    h.k.console.onInterrupt = (f) => ((fire = f), () => undefined);
    const lines = ["hang", "echo after"];
    let waiting: (l: string) => void = () => undefined;
    h.k.console.readline = (p) => {
      if (p) h.out.push(p);
      return new Promise((r) => (waiting = r));
    };
    const table = builtinCommands();
    table.register({
      name: "hang",
      usage: "hang",
      help: "never ends",
      run: () => new Promise(() => undefined),
    });
    let n = 0;
    const shell = runShell(h.k, table, () => n++ >= 2);
    await Promise.resolve();
    fire(); // at the prompt: prompt again
    waiting(lines[0]);
    await new Promise((r) => setImmediate(r));
    fire(); // while hang runs: back to the prompt
    await new Promise((r) => setImmediate(r));
    waiting(lines[1]);
    await shell;
    expect(h.out).toEqual(["dom5$ ", "dom5$ ", "dom5$ ", "after"]);
  });
});
