/**
 * End to end, as a user drives it: `pvkit up` boots the hypervisor and dom0; two guests are created
 * from xl.cfg files through dom0's toolstack; `pvkit list` shows them; a console round trip runs a shell
 * command; a graceful shutdown (control/shutdown) makes them go; a bad config and a malformed xs_wire
 * stream each get a clear error while the host keeps serving.
 */
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ControlClient } from "@pvkit/hypervisor/cli/client";
import { REPO, e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-");
const { dir, cfg } = stage;
const pvkit = (...args: string[]) => stage.pvkit(args);
const consoleRoundTrip = stage.console;

describe("a pvkit host", () => {
  it("creates two guests from cfg files and lists them like xl", async () => {
    expect(await pvkit("create", cfg("alpha"))).toMatchObject({
      code: 0,
      out: "Created domain alpha (id 1)\n",
    });
    expect(await pvkit("create", cfg("beta"))).toMatchObject({
      code: 0,
      out: "Created domain beta (id 2)\n",
    });
    const list = (await pvkit("list")).out;
    expect(list).toMatch(/^Name\s+ID\s+Mem\s+VCPUs\s+State\s+Time\(s\)\n/);
    expect(list).toMatch(/^Domain-0\s+0\s+64\s+1\s+/m);
    expect(list).toMatch(/^alpha\s+1\s+16\s+1\s+[-rb]{6}\s+\d+\.\d$/m);
    expect(list).toMatch(/^beta\s+2\s+16\s+1\s+/m);
  }, 30_000);

  it("runs a shell command through the console ring and xenstored", async () => {
    const out = await consoleRoundTrip("alpha", "xs-read name\r", /dom1\$ xs-read name\r\nalpha\r\n/);
    expect(out).toContain("pvkit 0.1.0 guest kernel: domain 1");
    expect(await consoleRoundTrip("2", "echo beta says hi\r", /beta says hi\r\n/)).toContain("dom2$");
  }, 30_000);

  it("refuses a bad config in one line and keeps serving", async () => {
    const bad = join(dir, "bad.cfg");
    writeFileSync(bad, 'name = "bad"\nkernel = "/nowhere.ts"\nmemory = lots\n');
    const r = await pvkit("create", bad);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `pvkit: ${bad}:3: memory: expected a quoted string, a number or a [list], got "lots"\n`,
    );
    expect((await pvkit("list")).out).toMatch(/^alpha\s+1/m);
  }, 30_000);

  it("survives a malformed xs_wire stream on xenstored's socket", async () => {
    const s = connect(stage.host.xenstored);
    await new Promise((r) => s.once("connect", r));
    const junk = Buffer.alloc(16);
    junk.writeUInt32LE(1, 0); // XS_READ ...
    junk.writeUInt32LE(0xffffffff, 12); // ... with an absurd length
    s.write(junk);
    await new Promise((r) => s.once("close", r).once("data", r));
    s.destroy();
    expect((await pvkit("xenstore-read", "/local/domain/1/name")).out).toBe("alpha\n");
  }, 30_000);

  it("runs examples/hello-guest.ts to completion: it powers off and the toolstack destroys it", async () => {
    expect((await pvkit("create", join(REPO, "examples/configs/hello.cfg"))).code).toBe(0);
    const deadline = Date.now() + 15_000;
    while (!/domain hello \(id \d+\) shut down \(poweroff\): destroy/.test(stage.host.hv.consoleLog(0))) {
      if (Date.now() > deadline) throw new Error(`hello never powered off:\n${stage.host.hv.consoleLog(0)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await pvkit("list")).out).not.toMatch(/^hello/m);
  }, 30_000);

  it("starts a guest under the Node inspector with --inspect", async () => {
    const c = await ControlClient.open(stage.host.socket);
    const file = cfg("gamma");
    const r = await c.request<{ domid: number; inspector?: string }>({
      op: "create",
      config: (await import("node:fs")).readFileSync(file, "utf8"),
      file,
      inspect: true,
    });
    c.close();
    expect(r.inspector).toBe(`127.0.0.1:${9230 + r.domid}`);
    let targets: { type?: string; webSocketDebuggerUrl?: string }[] = [];
    for (let i = 0; i < 50 && targets.length === 0; i++) {
      targets = await fetch(`http://${r.inspector}/json/list`).then(
        (x) => x.json() as Promise<typeof targets>,
        () => [],
      );
      if (targets.length === 0) await new Promise((res) => setTimeout(res, 100));
    }
    expect(targets[0]?.webSocketDebuggerUrl).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${9230 + r.domid}/`));
    expect((await pvkit("destroy", "gamma")).code).toBe(0);
  }, 30_000);

  it("shuts guests down gracefully and they leave the list", async () => {
    expect((await pvkit("shutdown", "-w", "alpha")).code).toBe(0);
    expect((await pvkit("shutdown", "-w", "beta")).code).toBe(0);
    const list = (await pvkit("list")).out;
    expect(list).not.toMatch(/^alpha/m);
    expect(list).not.toMatch(/^beta/m);
    expect(stage.host.hv.consoleLog(0)).toMatch(/domain alpha \(id 1\) shut down \(poweroff\): destroy/);
  }, 30_000);
});
