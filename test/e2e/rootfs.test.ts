/**
 * The root file system end to end, judged by tools nobody here wrote: Debian's mkfs.ext2 makes a disk
 * from examples/rootfs (the demo's folder), a guest boots with it as xvda, the kernel mounts it at /,
 * and the shell lists, reads, writes, makes, moves and removes files on it. After the guest shuts
 * down, e2fsck -fn calls the image clean and debugfs reads what the guest wrote.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ControlClient } from "@pvkit/hypervisor/cli/client";
import { debugfsCat, e2fsck, e2fsprogsMissing, mkfsExt2Tool } from "../conformance/e2fsprogs.ts";
import { REPO, e2eStage } from "./stage.ts";

const missing = e2fsprogsMissing();
const stage = e2eStage("pvkit-e2e-rootfs-");

const control = <T>(req: Record<string, unknown>) => stage.control<T>(req);

/**
 * One console connection kept open for the whole test: `run(line)` types a line and returns what it
 * printed, once the next prompt shows (only output after the line was typed counts; the console
 * replays its history on attach).
 */
async function shell(name: string, domid: number) {
  const prompt = `dom${domid}$ `;
  const c = await ControlClient.open(stage.host.socket);
  await c.request({ op: "console", domain: name });
  let out = "";
  let wake = () => {};
  c.rawMode((b) => {
    out += b.toString().replace(/\r/g, "");
    wake();
  });
  const until = async (done: () => boolean, what: string) => {
    const guard = setTimeout(() => wake(), 30_000);
    const t0 = Date.now();
    while (!done()) {
      if (Date.now() - t0 >= 30_000)
        throw new Error(`console of ${name} never showed ${what}: ${JSON.stringify(out)}`);
      await new Promise<void>((r) => (wake = r));
    }
    clearTimeout(guard);
  };
  await until(() => out.endsWith(prompt), "a prompt");
  return {
    async run(line: string): Promise<string> {
      const from = out.length;
      c.socket.write(`${line}\r`);
      const echo = `${line}\n`;
      await until(() => {
        const fresh = out.slice(from);
        return (
          fresh.includes(echo) && fresh.endsWith(prompt) && fresh.length > echo.length + prompt.length - 1
        );
      }, `the prompt after ${line}`);
      const fresh = out.slice(from);
      return fresh.slice(fresh.indexOf(echo) + echo.length, fresh.length - prompt.length).trim();
    },
    close: () => c.close(),
  };
}

describe.skipIf(missing)(
  `the root file system (${missing ?? "e2fsprogs present"})`,
  { timeout: 120_000 },
  () => {
    it("mounts a mkfs.ext2 -d image at / and leaves it clean for e2fsck", async () => {
      const img = join(stage.dir, "root.img");
      await mkfsExt2Tool(img, "16M", ["-d", join(REPO, "examples/rootfs"), "-L", "pvkit-root"]);
      mkdirSync(join(stage.dir, "cfg"), { recursive: true });
      const file = join(stage.dir, "cfg/rooty.cfg");
      const config =
        `name = "rooty"\nkernel = "${join(REPO, "examples/guests/shell.ts")}"\nmemory = 16\n` +
        `disk = ['format=raw, vdev=xvda, access=rw, target=${img}']\n`;
      const { domid } = await control<{ domid: number }>({ op: "create", config, file });
      const con = await shell("rooty", domid);

      expect(await con.run("lsblk")).toMatch(/xvda\s+16M\s+0 disk \//);
      expect(await con.run("cat /etc/hostname")).toBe("demo");
      expect(await con.run("cat /home/guest/motd")).toContain("Welcome to pvkit");
      const ls = await con.run("ls -l /home/guest");
      expect(ls).toMatch(/^lrwxrwxrwx .* motd -> \/etc\/motd$/m);
      expect(ls).toMatch(/^-rw-r--r-- .* notes\.txt$/m);
      await con.run("write /home/guest/todo.txt buy milk");
      await con.run("write -a /home/guest/todo.txt and bread");
      await con.run("mkdir -p /srv/www/static");
      await con.run("mv /srv/index.html /srv/www");
      await con.run("write /srv/www/static/gone.txt x");
      await con.run("rm /srv/www/static/gone.txt");
      expect(await con.run("ls /srv/www")).toBe("index.html  static");
      expect(await con.run("cat /nope")).toBe("cat: ENOENT: no such file or directory, open '/nope'");
      expect(await con.run("df")).toMatch(/\/dev\/xvda\s+\d+\s+\d+\s+\d+\s+\d+% \//);
      await con.run("sync");

      con.close();
      await control({ op: "shutdown", domain: "rooty", wait: true });
      const fsck = await e2fsck(img);
      expect(fsck.stdout + fsck.stderr).toMatch(/clean|\d+ files/);
      expect(fsck.code).toBe(0);
      expect(new TextDecoder().decode(await debugfsCat(img, "/home/guest/todo.txt"))).toBe(
        "buy milk\nand bread\n",
      );
      expect(new TextDecoder().decode(await debugfsCat(img, "/srv/www/index.html"))).toContain(
        "ext2 file system",
      );
    });
  },
);
