/**
 * Debian's real xenstore-utils (libxenstore 4.17) against pvkit's xenstored over a unix socket.
 * libxenstore connects to $XENSTORED_PATH when it names a socket (else $XENSTORED_RUNDIR/socket,
 * else /dev/xen/xenbus), so no other environment is needed.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Xenstored } from "@pvkit/guest-kernel/dom0/xenstored/index";

const TOOLS = ["read", "write", "ls", "list", "rm", "chmod", "watch", "exists"].map(
  (t) => `/usr/bin/xenstore-${t}`,
);
const missing = TOOLS.filter((t) => !existsSync(t));
if (missing.length > 0 && process.env.CI) {
  throw new Error(`xenstore-utils missing under CI: ${missing.join(", ")} (apt-get install xenstore-utils)`);
}
const suite = missing.length > 0 ? describe.skip : describe;
if (missing.length > 0)
  console.warn(`skipping xenstore-utils conformance: ${missing.join(", ")} not installed`);

const dir = mkdtempSync(join(tmpdir(), "pvkit-xs-"));
const socketPath = join(dir, "socket");
const xs = new Xenstored();

/** Runs a tool asynchronously (the server lives in this process) with XENSTORED_PATH set. */
function tool(name: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      `/usr/bin/xenstore-${name}`,
      args,
      { env: { PATH: process.env.PATH ?? "/usr/bin", XENSTORED_PATH: socketPath }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

suite("xenstore-utils against pvkit xenstored", { timeout: 60_000 }, () => {
  beforeAll(() => xs.listen(socketPath));
  afterAll(async () => {
    await xs.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("xenstore-write and xenstore-read", async () => {
    const w = await tool("write", "/tool/t/a", "1", "/tool/t/b", "hello world");
    expect(w.code).toBe(0);
    expect(xs.read("/tool/t/b")).toBe("hello world");
    const r = await tool("read", "/tool/t/a", "/tool/t/b");
    expect(r).toMatchObject({ code: 0, stdout: "1\nhello world\n" });
    const miss = await tool("read", "/tool/t/nope");
    expect(miss.code).not.toBe(0);
    expect(miss.stderr).toContain("couldn't read path /tool/t/nope");
    expect((await tool("exists", "/tool/t/a")).code).toBe(0);
    expect((await tool("exists", "/tool/t/zz")).code).not.toBe(0);
  });

  it("xenstore-list, xenstore-ls (with perms) and xenstore-chmod", async () => {
    xs.write("/tool/l/x", "1");
    xs.write("/tool/l/y/z", "deep");
    expect(await tool("list", "/tool/l")).toMatchObject({ code: 0, stdout: "x\ny\n" });
    const ls = await tool("ls", "/tool/l");
    expect(ls.stdout).toBe('x = "1"\ny = ""\n z = "deep"\n');
    expect((await tool("chmod", "/tool/l/x", "r5", "b7")).code).toBe(0);
    expect(xs.getPerms("/tool/l/x")).toEqual(["r5", "b7"]);
    const lsp = await tool("ls", "-p", "/tool/l");
    expect(lsp.stdout.split("\n")[0]).toMatch(/^x = "1" .*\(r5,b7\)$/);
    expect((await tool("chmod", "/tool/l/x", "q9")).code).not.toBe(0);
  });

  it("xenstore-rm removes a subtree", async () => {
    xs.write("/tool/r/a/b", "1");
    expect((await tool("rm", "/tool/r/a")).code).toBe(0);
    expect(xs.directory("/tool/r")).toEqual([]);
    expect((await tool("read", "/tool/r/a/b")).code).not.toBe(0);
  });

  it("a directory too large for one reply lists completely (XS_DIRECTORY_PART)", async () => {
    const names = Array.from(
      { length: 400 },
      (_, i) => `a-rather-long-child-name-${String(i).padStart(4, "0")}`,
    );
    for (const n of names) xs.write(`/tool/big/${n}`, n.slice(-4));
    expect(names.join("\0").length).toBeGreaterThan(4096);
    const list = await tool("list", "/tool/big");
    expect(list.code).toBe(0);
    expect(list.stdout.trimEnd().split("\n")).toEqual(names);
    const ls = await tool("ls", "/tool/big");
    expect(ls.stdout.trimEnd().split("\n")).toEqual(names.map((n) => `${n} = "${n.slice(-4)}"`));
  });

  it("xenstore-watch prints the initial event and then each change", async () => {
    const child = spawn("/usr/bin/xenstore-watch", ["/tool/w"], { env: { XENSTORED_PATH: socketPath } });
    const lines: string[] = [];
    let buf = "";
    const waitLines = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`saw only ${JSON.stringify(lines)}`)), 30_000);
        const check = () => {
          if (lines.length >= n) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout.on("data", check);
        check();
      });
    child.stdout.on("data", (b: Buffer) => {
      buf += b.toString();
      const parts = buf.split("\n");
      buf = parts.pop()!;
      lines.push(...parts);
    });
    try {
      await waitLines(1);
      expect(lines[0]).toBe("/tool/w");
      xs.write("/tool/w/x", "1");
      await waitLines(2);
      xs.write("/tool/other", "no");
      xs.rm("/tool/w");
      await waitLines(3);
      expect(lines).toEqual(["/tool/w", "/tool/w/x", "/tool/w"]);
    } finally {
      child.kill();
    }
  });
});
