/**
 * The warm pool (hypervisor/src/pool): workers prepared ahead hold nothing of any domain, each
 * serves one domain and is never returned, the pool refills once the domain that took one is up,
 * `pool: 0` is no pool, and pooled workers are counted by admission. Every wait is for an event
 * (a pool ready, a console line, a shutdown); the only deadlines are 30 s+ hang guards.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SHUTDOWN_crash } from "@pvkit/abi/layout";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { CELL_OVERHEAD_MIB, type Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { currentKernelImage } from "@pvkit/hypervisor/image/guest-image";
import { supervisorScript } from "@pvkit/hypervisor/image/supervisor-image";
import { SHM_ADDON_PATH } from "@pvkit/hypervisor/native/shm";
import { localPoolBackend } from "@pvkit/hypervisor/pool/local-pool";
import { boot, consoleShows, guest, shutdownOf } from "./helpers.ts";

const GUARD = 60_000;
const ticker = guest("ticker");
let hv: Hypervisor | undefined;
afterEach(async () => {
  await hv?.close();
  hv = undefined;
});

/** The machine-memory mappings (file offsets) of process `pid`. */
function machineMappings(pid: number): string[] {
  return readFileSync(`/proc/${pid}/maps`, "utf8")
    .split("\n")
    .filter((l) => l.includes("pvkit-machine-memory"));
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Resolves when process `pid` is gone (its domain's worker ended with the domain). */
async function gone(pid: number): Promise<void> {
  const deadline = Date.now() + GUARD;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not end`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the warm pool, in cells", () => {
  it(
    "gives each domain a pooled cell of its own that mapped nothing before, never reuses one, and refills",
    async () => {
      hv = boot({ pool: 2, poolMemoryMiB: 4 });
      await hv.pool!.whenReady(2);
      const pooled = hv.pool!.idlePids() as number[];
      expect(pooled).toHaveLength(2);
      expect(new Set(pooled).size).toBe(2);
      // A pooled cell has started its worker, loaded SES and locked down, and holds no frame: not
      // one page of the machine's memory is mapped in its process.
      for (const pid of pooled) expect(machineMappings(pid)).toEqual([]);

      const a = hv.createDomain({ name: "a", memoryMiB: 4, program: ticker });
      const b = hv.createDomain({ name: "b", memoryMiB: 4, program: ticker });
      await consoleShows(hv, a.domid, "tick 1", GUARD);
      await consoleShows(hv, b.domid, "tick 1", GUARD);
      const pa = a.worker!.pid as number;
      const pb = b.worker!.pid as number;
      // Two creates, two different pooled processes: the ones that were waiting.
      expect(pa).not.toBe(pb);
      expect(pooled).toContain(pa);
      expect(pooled).toContain(pb);
      expect(machineMappings(pa).length).toBeGreaterThan(0); // now it has its domain's frames
      // Each pooled worker booted the kernel once on a machine of its own (realm/rehearsal.ts):
      // nothing of that boot reaches the domain's console, and its kernel boots as its own domain.
      for (const d of [a, b]) {
        expect(hv.consoleLog(d.domid)).toContain(`guest kernel: domain ${d.domid},`);
        expect(hv.consoleLog(d.domid)).not.toContain("rehearsal");
      }
      expect(hv.pool!.stats()).toMatchObject({ served: 2, cold: 0 });

      // Both domains are up (they blocked between ticks), so the pool refills: two new processes.
      await hv.pool!.whenReady(2);
      const refilled = hv.pool!.idlePids() as number[];
      expect(refilled).toHaveLength(2);
      for (const pid of refilled) {
        expect([pa, pb]).not.toContain(pid);
        expect(machineMappings(pid)).toEqual([]);
      }

      // A used worker ends with its domain and is never seen again.
      hv.destroyDomain(a.domid);
      await gone(pa);
      expect(hv.pool!.idlePids()).not.toContain(pa);
      const c = hv.createDomain({ name: "c", memoryMiB: 4, program: ticker });
      await consoleShows(hv, c.domid, "tick 1", GUARD);
      expect([pa, pb]).not.toContain(c.worker!.pid);
      expect(refilled).toContain(c.worker!.pid);
    },
    GUARD * 3,
  );

  it(
    "starts a domain of another size cold and prepares for that size next",
    async () => {
      hv = boot({ pool: 1, poolMemoryMiB: 4 });
      await hv.pool!.whenReady(1);
      const waiting = hv.pool!.idlePids()[0];
      const d = hv.createDomain({ name: "big", memoryMiB: 8, program: ticker });
      await consoleShows(hv, d.domid, "tick 1", GUARD);
      expect(d.worker!.pid).not.toBe(waiting); // the 4 MiB worker could not serve it
      expect(hv.pool!.stats()).toMatchObject({ served: 0, cold: 1 });
      await hv.pool!.whenReady(1);
      const e = hv.createDomain({ name: "big2", memoryMiB: 8, program: ticker });
      await consoleShows(hv, e.domid, "tick 1", GUARD);
      expect(hv.pool!.stats()).toMatchObject({ served: 1, cold: 1 });
    },
    GUARD * 2,
  );
});

describe("the warm pool, cells off", () => {
  it(
    "gives two domains two different pooled threads",
    async () => {
      hv = boot({ cells: false, pool: 2, poolMemoryMiB: 4 });
      await hv.pool!.whenReady(2);
      const a = hv.createDomain({ name: "a", memoryMiB: 4, program: ticker });
      const b = hv.createDomain({ name: "b", memoryMiB: 4, program: ticker });
      await consoleShows(hv, a.domid, "tick 1", GUARD);
      await consoleShows(hv, b.domid, "tick 1", GUARD);
      const ta = (a.worker as unknown as { worker: Worker }).worker.threadId;
      const tb = (b.worker as unknown as { worker: Worker }).worker.threadId;
      expect(ta).not.toBe(tb);
      expect(hv.pool!.stats()).toMatchObject({ served: 2, cold: 0 });
      for (const d of [a, b]) {
        expect(hv.consoleLog(d.domid)).toContain(`guest kernel: domain ${d.domid},`);
        expect(hv.consoleLog(d.domid)).not.toContain("rehearsal");
      }
    },
    GUARD,
  );

  it.each([
    ["a syntax error", "export default async function main( {\n", "Expected"],
    [
      // Linked to the kernel image, a kernel module's exports are still checked, as in a whole image.
      "an import the kernel module does not export",
      'import { nonexistent } from "@pvkit/guest-kernel/kernel/program";\n' +
        "export default async function main() { void nonexistent; }\n",
      'No matching export in "guest-kernel/src/kernel/program.ts" for import "nonexistent"',
    ],
  ])(
    "fails a program with %s to build, and refills: the worker it took is not lost to the pool",
    async (_what, source, message) => {
      hv = boot({ cells: false, pool: 2, poolMemoryMiB: 4 });
      await hv.pool!.whenReady(2);
      const dir = mkdtempSync(join(tmpdir(), "pvkit-pool-"));
      const broken = join(dir, "broken.ts");
      writeFileSync(broken, source);
      try {
        const d = hv.createDomain({ name: "broken", memoryMiB: 4, program: pathToFileURL(broken).href });
        const { reason } = await shutdownOf(hv, d.domid, GUARD);
        expect(reason).toBe(SHUTDOWN_crash);
        expect(hv.consoleLog(d.domid)).toContain("cannot build the guest image");
        expect(hv.consoleLog(d.domid)).toContain(message);
        expect(hv.pool!.stats()).toMatchObject({ served: 1 });
        await hv.pool!.whenReady(2); // the refill ran: the failed boot ended
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    GUARD,
  );

  it.each([
    ["another bound than the one its gate was armed with", { jsLimitBytes: 1 << 30 }],
    ["a program on another kernel image than the one it evaluated", { kernelId: "0123456789abcdef" }],
  ])(
    "refuses a domain it was not prepared for (%s): the worker crashes instead of running it",
    async (_why, unlike) => {
      const backend = localPoolBackend({
        supervisor: await supervisorScript(),
        addon: SHM_ADDON_PATH,
        heapHeadroomMiB: 4096,
      });
      const kernel = await currentKernelImage();
      const lost: string[] = [];
      const jsLimitBytes = 96 * 1024 * 1024;
      const w = backend.prepare(jsLimitBytes, kernel, (why) => lost.push(why));
      expect(await w.ready).toBe(true);
      expect(w.kernelId).toBe(kernel.id);
      const worker = (w as unknown as { worker: Worker }).worker;
      const said = new Promise<unknown>((r) => worker.on("message", r));
      const exited = new Promise<number>((r) => worker.once("exit", r));
      // Refused before anything else of the boot is read.
      const bootData = { mode: "realm", jsLimitBytes, kernelId: kernel.id, ...unlike };
      worker.postMessage({ t: "assign", boot: bootData });
      expect(await said).toMatchObject({ t: "crash", reason: expect.stringContaining("not prepared for") });
      expect(await exited).toBe(70);
      expect(lost).toHaveLength(1);
    },
    GUARD,
  );
});

describe("pool size and admission", () => {
  it(
    "pool 0 is no pool: domains start cold",
    async () => {
      hv = boot({ pool: 0 });
      expect(hv.pool).toBeUndefined();
      const d = hv.createDomain({ name: "cold", memoryMiB: 4, program: guest("smoke") });
      await shutdownOf(hv, d.domid, GUARD);
      expect(hv.consoleLog(d.domid)).toContain("smoke: hello");
    },
    GUARD,
  );

  it(
    "counts pooled workers against the machine's memory, and gives their room to a domain",
    async () => {
      // 200 MiB: dom0-less; each cell's runtime is reserved at CELL_OVERHEAD_MIB.
      hv = boot({ memoryMiB: 200, pool: 2, poolMemoryMiB: 4 });
      await hv.pool!.whenReady(2);
      const total = hv.memory.totalPages;
      expect(hv.memory.freePages).toBe(total - 2 * CELL_OVERHEAD_MIB * 256);
      // A domain and its runtime that fit only if a pooled worker gives its room up.
      const wide = 200 - 2 * CELL_OVERHEAD_MIB - CELL_OVERHEAD_MIB + 8;
      const d = hv.createDomain({ name: "wide", memoryMiB: wide, program: ticker });
      expect(hv.pool!.stats().idle).toBeLessThan(2);
      await consoleShows(hv, d.domid, "tick 1", GUARD);
    },
    GUARD,
  );
});
