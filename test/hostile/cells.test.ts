/**
 * What kills a process kills one domain. V8 aborts the whole process when one allocation overshoots
 * a heap limit, or when a builtin is asked for more elements than its arrays may hold — an 8 MiB domU
 * once took the hypervisor, dom0 and every other domain down that way. Each domU now runs in a cell,
 * a process of its own: the abort ends that cell, its domain is crashed with V8's reason, and the
 * host, dom0 and the bystander (in a cell of its own) carry on, and new domains start.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthy, hostileGuest, shutdownOf, stage, until, type Stage } from "./harness.ts";

let s: Stage;
beforeAll(async () => void (s = await stage()), 60_000);
afterAll(() => s?.close());

const ticker = hostileGuest("../../guests/ticker");

/** The process domain `domid`'s worker runs in (a cell's: never the hypervisor's). */
function pidOf(domid: number): number {
  const pid = s.hv.domains.get(domid)!.worker!.pid;
  if (pid === "self") throw new Error(`domain ${domid} runs in the hypervisor's process`);
  return pid;
}

/** The parts of the machine's memory (file offsets, [from, to)) that process `pid` has mapped. */
function machineMappings(pid: number): [number, number][] {
  return readFileSync(`/proc/${pid}/maps`, "utf8")
    .split("\n")
    .filter((l) => l.includes("pvkit-machine-memory"))
    .map((l) => {
      const [range, , offset] = l.split(/\s+/);
      const [start, end] = range!.split("-").map((h) => parseInt(h, 16));
      const from = parseInt(offset!, 16);
      return [from, from + end! - start!];
    });
}

/** Whether process `pid` is alive. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("a guest that makes V8 abort its process", () => {
  it("ends its own cell; its domain crashes with V8's reason; the rest of the host lives on", async () => {
    const bystanderPid = pidOf(s.bystander.domid);
    const d = s.hv.createDomain({
      name: "split",
      memoryMiB: 8,
      program: hostileGuest("bombs"),
      rings: false,
      cmdline: "mode=split",
    });
    await until(() => (d.worker?.pid ?? 0) !== 0, "the bomb's cell");
    const bombPid = pidOf(d.domid);
    const { reason, why } = await shutdownOf(s.hv, d.domid);
    expect(s.hv.consoleLog(d.domid)).not.toContain("went through");
    expect(reason).toBe(3); // SHUTDOWN_crash
    expect(why).toMatch(/^V8 aborted its cell process \(JavaScript invalid size error \d+/);
    // V8's last words are in the hypervisor's log, named by domain.
    expect(s.hv.log.join("\n")).toMatch(/dom\d+ \(split\) cell: # Fatal JavaScript invalid size/);
    await until(() => !alive(bombPid), "the bomb's cell to be gone");
    expect(alive(bystanderPid)).toBe(true);
    s.hv.destroyDomain(d.domid);
    await healthy(s);
  });
});

describe("a cell killed from outside", () => {
  it("crashes its domain with the signal; a domain created after it runs", async () => {
    const d = s.hv.createDomain({ name: "victim", memoryMiB: 4, program: ticker, rings: false });
    await until(() => s.hv.consoleLog(d.domid).includes("tick 1"), "the victim to tick");
    process.kill(pidOf(d.domid), "SIGKILL");
    const { reason, why } = await shutdownOf(s.hv, d.domid);
    expect(reason).toBe(3);
    expect(why).toBe("its cell process was killed by SIGKILL");
    s.hv.destroyDomain(d.domid);
    const again = s.hv.createDomain({ name: "victim", memoryMiB: 4, program: ticker, rings: false });
    await until(() => s.hv.consoleLog(again.domid).includes("tick 1"), "the new domain to tick");
    s.hv.destroyDomain(again.domid);
    await healthy(s);
  });
});

describe("every domU", () => {
  it("runs in a process of its own that maps only its own memory and has no host environment", async () => {
    // What a cell is told: where the addon is, its C heap's one arena, and Node's own IPC.
    const told = [
      "MALLOC_ARENA_MAX",
      "NODE_CHANNEL_FD",
      "NODE_CHANNEL_SERIALIZATION_MODE",
      "PVKIT_SHM_ADDON",
    ];
    const a = s.hv.createDomain({ name: "a", memoryMiB: 4, program: ticker, rings: false });
    const b = s.hv.createDomain({ name: "b", memoryMiB: 4, program: ticker, rings: false });
    await until(() => s.hv.consoleLog(a.domid).includes("tick 1"), "a to tick");
    await until(() => s.hv.consoleLog(b.domid).includes("tick 1"), "b to tick");
    const pids = [pidOf(a.domid), pidOf(b.domid), pidOf(s.bystander.domid)];
    expect(new Set(pids).size).toBe(3);
    expect(pids).not.toContain(process.pid);
    expect(s.hv.domains.get(0)!.worker!.pid).toBe("self"); // dom0 is the hypervisor's own
    for (const pid of pids) {
      const env = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
      expect(env.map((e) => e.split("=")[0]).sort()).toEqual(told);
    }
    // Its address space holds the frames it was handed and nothing of any other domain's: what a
    // process cannot address it cannot read, speculatively or otherwise.
    for (const [d, other] of [
      [a, b],
      [b, a],
    ]) {
      const mapped = machineMappings(pidOf(d.domid));
      const pages = mapped.reduce((n, [from, to]) => n + (to - from) / 4096, 0);
      expect(pages).toBeGreaterThanOrEqual(1024); // its 4 MiB...
      expect(pages).toBeLessThan(1024 + 64); // ...its grant table, shared info, vCPU page, doorbell
      const inside = (mfn: number) => mapped.some(([from, to]) => mfn * 4096 >= from && mfn * 4096 < to);
      for (const f of d.p2m.values()) expect(inside(f.mfn)).toBe(true);
      for (const f of other.p2m.values())
        expect(inside(f.mfn), `frame ${f.mfn} of ${other.name}`).toBe(false);
      for (const f of s.hv.domains.get(0)!.p2m.values()) expect(inside(f.mfn)).toBe(false);
    }
    s.hv.destroyDomain(a.domid);
    s.hv.destroyDomain(b.domid);
    await until(() => pids.slice(0, 2).every((p) => !alive(p)), "their cells to end with them");
    await healthy(s);
  });
});
