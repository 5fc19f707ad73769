/**
 * The toolstack with real xenstored and console daemon over a fake hypervisor: what `create` writes
 * and connects, the on_* policies, and the control socket driven by the real `pvkit` CLI.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import {
  XENCONS_OUT_SIZE,
  XenconsInterface,
  SHUTDOWN_crash,
  SHUTDOWN_poweroff,
  SHUTDOWN_reboot,
} from "@pvkit/abi/layout";
import { ByteRing } from "@pvkit/guest-kernel/kernel/bytering";
import { Consoled } from "@pvkit/guest-kernel/dom0/consoled/consoled";
import { ControlServer } from "@pvkit/guest-kernel/dom0/toolstack/control-server";
import { Toolstack } from "@pvkit/guest-kernel/dom0/toolstack/toolstack";
import { Xenstored } from "@pvkit/guest-kernel/dom0/xenstored/index";
import { FakeHost } from "./fake-host.ts";

const cfg = (name: string, extra = "") =>
  `name = "${name}"\nkernel = "/guests/${name}.ts"\nmemory = 16\n${extra}`;
const REPO = resolve(import.meta.dirname, "../..");

function setup() {
  const host = new FakeHost();
  const xs = new Xenstored();
  const consoled = new Consoled();
  const log: string[] = [];
  const ts = new Toolstack(host, xs, consoled, (l) => log.push(l));
  // The guest kernel's last boot step: it tells the toolstack it acts on control/shutdown.
  host.onFirstRun = (domid) => xs.write(`/local/domain/${domid}/control/feature-poweroff`, "1");
  return { host, xs, consoled, ts, log };
}

describe("Toolstack", () => {
  it("create builds the domain, writes xl's xenstore entries and connects both rings", () => {
    const { host, xs, ts } = setup();
    const r = ts.create(cfg("web", 'extra = "quiet"\n'), "/cfg/web.cfg");
    expect(r).toEqual({ domid: 1, name: "web" });
    expect(host.domains.get(1)!.kernel).toBe("file:///guests/web.ts");
    expect(host.domains.get(1)!.info.paused).toBe(false);
    expect(xs.read("/local/domain/1/name")).toBe("web");
    expect(xs.read("/local/domain/1/memory/target")).toBe(String(16 * 1024));
    expect(xs.read("/local/domain/1/store/port")).toBe("1");
    expect(xs.read("/local/domain/1/console/port")).toBe("2");
    // libxl's permissions: the home and what dom0 writes in it are read-only to the guest; the
    // nodes it answers in are its own.
    expect(xs.getPerms("/local/domain/1")).toEqual(["n0", "r1"]);
    expect(xs.getPerms("/local/domain/1/name")).toEqual(["n0", "r1"]);
    expect(xs.getPerms("/local/domain/1/console/port")).toEqual(["n0", "r1"]);
    expect(xs.getPerms("/local/domain/1/control/shutdown")).toEqual(["n1"]);
    expect(xs.getPerms("/local/domain/1/data")).toEqual(["n1"]);
    expect(xs.isIntroduced(1)).toBe(true);
    expect(ts.list().map((d) => [d.name, d.domid, d.memory, d.state])).toEqual([
      ["Domain-0", 0, 0, "p"],
      ["web", 1, 16, "b"],
    ]);
  });

  it("refuses a duplicate name and reports config errors in one line", () => {
    const { ts } = setup();
    ts.create(cfg("a"), "/c/a.cfg");
    expect(() => ts.create(cfg("a"), "/c/a.cfg")).toThrow('domain name "a" is already in use');
    // A kernel that is not there: one line naming the file, and no domain made.
    const before = ts.list().length;
    expect(() => ts.create(cfg("missing"), "/c/m.cfg")).toThrow(
      "/c/m.cfg: kernel: /guests/missing.ts: no such file",
    );
    expect(ts.list()).toHaveLength(before);
    expect(() => ts.create('name = "b"\nkernel = "/k"\nmemory = lots\n', "/c/b.cfg")).toThrow(
      '/c/b.cfg:3: memory: expected a quoted string, a number or a [list], got "lots"',
    );
  });

  it("applies on_poweroff=destroy, on_reboot=restart and on_crash=preserve", () => {
    const { host, xs, ts } = setup();
    ts.create(cfg("p"), "/c/p.cfg");
    ts.create(cfg("r"), "/c/r.cfg");
    ts.create(cfg("c", 'on_crash = "preserve"\n'), "/c/c.cfg");
    host.guestShutdown(1, SHUTDOWN_poweroff);
    expect(host.domains.has(1)).toBe(false);
    expect(xs.tryRead("/local/domain/1/name")).toBeUndefined();
    host.guestShutdown(2, SHUTDOWN_reboot);
    expect(host.domains.has(2)).toBe(false);
    // Restarted with a new id, as Xen gives one: the next after the last handed out.
    expect(ts.list().find((d) => d.name === "r")!.domid).toBe(4);
    host.guestShutdown(3, SHUTDOWN_crash);
    expect(ts.list().find((d) => d.name === "c")!.state).toBe("bsc");
    expect(xs.isIntroduced(3)).toBe(false);
  });

  it("shutdown asks through control/shutdown; -w waits for the domain to go", async () => {
    const { host, xs, ts } = setup();
    ts.create(cfg("g"), "/c/g.cfg");
    const done = ts.shutdown("g", "poweroff", true);
    expect(xs.read("/local/domain/1/control/shutdown")).toBe("poweroff");
    setTimeout(() => host.guestShutdown(1, SHUTDOWN_poweroff), 50);
    await done;
    expect(ts.list().map((d) => d.domid)).toEqual([0]);
  });
});

describe("control socket + pvkit CLI", () => {
  const servers: ControlServer[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  async function host() {
    const s = setup();
    const dir = await mkdtemp(join(tmpdir(), "pvkit-ctl-"));
    dirs.push(dir);
    const sock = join(dir, "control.sock");
    const server = new ControlServer(s.ts, s.consoled, s.xs);
    await server.listen(sock);
    servers.push(server);
    const cli = async (...args: string[]) => {
      try {
        const r = await promisify(execFile)(process.execPath, [
          join(REPO, "node_modules/tsx/dist/cli.mjs"),
          join(REPO, "hypervisor/src/cli/main.ts"),
          "--socket",
          sock,
          ...args,
        ]);
        return { code: 0, out: r.stdout, err: r.stderr };
      } catch (e) {
        const x = e as { code: number; stdout: string; stderr: string };
        return { code: x.code, out: x.stdout, err: x.stderr };
      }
    };
    return { ...s, dir, sock, cli };
  }

  it("create, list, xenstore and destroy through the real CLI; a bad cfg is one line and the host keeps serving", async () => {
    const h = await host();
    const good = join(h.dir, "good.cfg");
    await writeFile(good, cfg("good"));
    expect(await h.cli("create", good)).toMatchObject({ code: 0, out: "Created domain good (id 1)\n" });
    const bad = join(h.dir, "bad.cfg");
    await writeFile(bad, 'name = "bad"\nkernel = "/k"\nmemroy = 3\n');
    const r = await h.cli("create", bad);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`pvkit: ${bad}:3: memroy: unknown setting (did you mean "memory"?)\n`);
    const list = await h.cli("list");
    expect(list.out.split("\n")[0]).toMatch(/^Name\s+ID\s+Mem\s+VCPUs\s+State\s+Time\(s\)$/);
    expect(list.out).toMatch(/^good\s+1\s+16\s+1\s+-b----\s+0\.0$/m);
    expect((await h.cli("xenstore-read", "/local/domain/1/name")).out).toBe("good\n");
    expect((await h.cli("destroy", "good")).code).toBe(0);
    expect((await h.cli("list")).out).not.toMatch(/^good/m);
  }, 30_000);

  it("prints one line when no host is running", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pvkit-none-"));
    dirs.push(dir);
    const r = await promisify(execFile)(process.execPath, [
      join(REPO, "node_modules/tsx/dist/cli.mjs"),
      join(REPO, "hypervisor/src/cli/main.ts"),
      "--socket",
      join(dir, "nope.sock"),
      "list",
    ]).catch((e) => e as { stderr: string; code: number });
    expect(r.stderr).toBe(
      `pvkit: no host running at ${join(dir, "nope.sock")} (start one with \`pnpm pvkit up\`)\n`,
    );
  });

  it("console attach streams the guest's output and carries keystrokes to it", async () => {
    const h = await host();
    h.ts.create(cfg("con"), "/c/con.cfg");
    const page = h.host.domains.get(1)!.pages.get(0)!;
    const off = XenconsInterface.offsets;
    const guestOut = new ByteRing(page, {
      data: off.out,
      size: XENCONS_OUT_SIZE,
      cons: off.out_cons,
      prod: off.out_prod,
    });
    guestOut.write(new TextEncoder().encode("pvkit login: "));
    h.host.guestKick(1, 2);
    const { ControlClient } = await import("@pvkit/hypervisor/cli/client");
    const c = await ControlClient.open(h.sock);
    await c.request({ op: "console", domain: "con" });
    const got = await new Promise<string>((res) => c.rawMode((b) => res(b.toString())));
    expect(got).toBe("pvkit login: ");
    c.socket.write("root\r");
    await new Promise((r) => setTimeout(r, 50));
    const guestIn = new ByteRing(page, { data: off.in, size: 1024, cons: off.in_cons, prod: off.in_prod });
    expect(new TextDecoder().decode(guestIn.read())).toBe("root\r");
    c.close();
  });
});
