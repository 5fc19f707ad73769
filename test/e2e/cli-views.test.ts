/**
 * The CLI's views of domains beyond `list`: `list -l` (each domain's cfg as created and its state,
 * as `xl list -l`) and `top -b` (xentop's batch mode: CPU, memory, and the hypervisor's hypercall
 * and event counters as rates).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { DomainRecord } from "@pvkit/abi/toolstack-protocol";
import { REPO, e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-views-");
const { dir, pvkit } = stage;

async function listLong(...names: string[]): Promise<DomainRecord[]> {
  const r = await pvkit(["list", "-l", ...names]);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as DomainRecord[];
}

/** The last screen of `top -b` as rows keyed by name: each column's figure by its header. */
function lastScreen(out: string): Map<string, Record<string, string>> {
  const lines = out.trimEnd().split("\n");
  const head = lines.findLastIndex((l) => /^\s*NAME\s+STATE\s/.test(l));
  const cols = lines[head]!.trim().split(/\s+/);
  return new Map(
    lines.slice(head + 1).map((l) => {
      const cells = l.trim().split(/\s+/);
      return [cells[0]!, Object.fromEntries(cols.map((c, i) => [c, cells[i]!]))];
    }),
  );
}

describe("pvkit list -l and top", { timeout: 120_000 }, () => {
  it("list -l shows the cfg a domain was created with and its state; dom0 has no cfg", async () => {
    const file = join(dir, "full.cfg");
    const image = join(dir, "full.img"); // a real disk now: blkback serves it
    writeFileSync(image, new Uint8Array(1 << 20));
    writeFileSync(
      file,
      [
        `name = "full"`,
        `kernel = "${join(REPO, "test/guests/idle.ts")}"`,
        `memory = 16`,
        `maxmem = 24`,
        `extra = "loglevel=3"`,
        `on_crash = "preserve"`,
        `vif = [ 'mac=00:16:3e:00:00:07, bridge=pvbr0' ]`,
        `disk = [ 'format=raw, vdev=xvda, access=ro, target=${image}' ]`,
      ].join("\n") + "\n",
    );
    expect((await pvkit(["create", file])).code).toBe(0);
    const [full] = await listLong("full");
    expect(full).toMatchObject({
      config: {
        file,
        name: "full",
        type: "pv",
        kernel: join(REPO, "test/guests/idle.ts"),
        memory: 16,
        maxmem: 24,
        vcpus: 1,
        on_poweroff: "destroy",
        on_reboot: "restart",
        on_crash: "preserve",
        extra: "loglevel=3",
        disk: [{ target: image, format: "raw", vdev: "xvda", readonly: true }],
        vif: [{ devid: 0, mac: "00:16:3e:00:00:07", bridge: "pvbr0" }],
      },
      runtime: { name: "full", memory: 16, maxmem: 24, online_vcpus: 1 },
    });
    expect(full!.config!.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(full!.runtime.state).toMatch(/^[r-][b-]----$/);
    expect(full!.runtime).not.toHaveProperty("shutdown_reason");

    const all = await listLong();
    expect(all.map((d) => d.runtime.name)).toEqual(["Domain-0", "full"]);
    expect(all[0]).toMatchObject({ domid: 0, config: null, runtime: { name: "Domain-0" } });
    expect((await pvkit(["destroy", "full"])).code).toBe(0);
  });

  it("list -l names why a preserved domain stopped", async () => {
    const file = join(dir, "kept.cfg");
    writeFileSync(
      file,
      `name = "kept"\nkernel = "${join(REPO, "examples/hello-guest.ts")}"\nmemory = 16\non_poweroff = "preserve"\n`,
    );
    expect((await pvkit(["create", file])).code).toBe(0);
    let kept = (await listLong("kept"))[0]!;
    while (!kept.runtime.shutdown_reason) kept = (await listLong("kept"))[0]!; // until it powers off
    expect(kept.runtime).toMatchObject({ state: "---s--", shutdown_reason: "poweroff" });
    expect((await pvkit(["destroy", "kept"])).code).toBe(0);
  });

  it("top -b: a busy guest makes hypercalls and uses CPU, an idle one neither", async () => {
    expect((await pvkit(["create", stage.cfg("busy", join(REPO, "test/guests/busy.ts"))])).code).toBe(0);
    expect((await pvkit(["create", stage.cfg("idle", join(REPO, "test/guests/idle.ts"))])).code).toBe(0);
    await stage.console("busy", "", /busy: round \d+/);
    await stage.console("idle", "", /idle: up in domain/);

    const r = await pvkit(["top", "-b", "-i", "2", "-d", "1"]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe("");
    const heads = r.out.split("\n").filter((l) => /NAME/.test(l));
    expect(heads).toHaveLength(2); // one screen per refresh
    expect(heads[0]).toMatch(
      /^\s+NAME\s+STATE\s+CPU\(sec\)\s+CPU\(%\)\s+MEM\(k\)\s+MAXMEM\(k\)\s+VCPUS\s+HC\/s\s+EV\/s$/,
    );
    const rows = lastScreen(r.out);
    expect([...rows.keys()]).toEqual(["Domain-0", "busy", "idle"]);
    const busy = rows.get("busy")!;
    const idle = rows.get("idle")!;
    expect(busy["MEM(k)"]).toBe("16384");
    expect(Number(busy["HC/s"])).toBeGreaterThan(100);
    expect(Number(busy["CPU(%)"])).toBeGreaterThan(0);
    expect(Number(busy["EV/s"])).toBeGreaterThan(0); // its console lines notify dom0
    expect(Number(idle["HC/s"])).toBeLessThan(5);
    expect(Number(idle["CPU(%)"])).toBeLessThan(5);
    for (const d of ["busy", "idle"]) expect((await pvkit(["destroy", d])).code).toBe(0);
  });
});
