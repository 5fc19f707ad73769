/**
 * V8's code cache for the supervisor (hypervisor/src/realm/code-cache.ts): made once per host
 * process by a worker that never runs a domain; a domU worker compiled through the stub uses it; a
 * cache V8 refuses costs nothing but the time, and the current one refused is made again; domains
 * start through the stub, in cells and out.
 */
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import type { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { workerOptions } from "@pvkit/hypervisor/domain/worker";
import { supervisorCodeCache, supervisorCodeRefused } from "@pvkit/hypervisor/image/supervisor-code";
import { supervisorScript } from "@pvkit/hypervisor/image/supervisor-image";
import { SHM_ADDON_PATH } from "@pvkit/hypervisor/native/shm";
import type { PooledBoot, SupervisorReport } from "@pvkit/hypervisor/realm/boot-data";
import { SUPERVISOR_STUB, type SupervisorCode } from "@pvkit/hypervisor/realm/code-cache";
import { boot, consoleShows, guest, shutdownOf } from "./helpers.ts";

const MiB = 1024 * 1024;
let hv: Hypervisor | undefined;
afterEach(async () => {
  await hv?.close();
  hv = undefined;
});

/** Prepares a pooled supervisor through the stub with `code`; resolves with its ready report. */
async function prepareWith(code: SupervisorCode): Promise<SupervisorReport> {
  const pool: PooledBoot = { addon: SHM_ADDON_PATH, jsLimitBytes: 72 * MiB };
  const w = new Worker(SUPERVISOR_STUB, {
    ...workerOptions(undefined, { jsLimitBytes: pool.jsLimitBytes, heapHeadroomMiB: 4096 }),
    workerData: { pool, code },
  });
  try {
    return await new Promise<SupervisorReport>((resolve, reject) => {
      w.on("message", (m: SupervisorReport) => m.t === "ready" && resolve(m));
      w.once("error", reject);
      w.once("exit", (c) => reject(new Error(`the pooled worker exited with code ${c}`)));
    });
  } finally {
    await w.terminate();
  }
}

describe("the supervisor's code cache", () => {
  it("is made once per process and used by the workers compiled after it", async () => {
    const cache = await supervisorCodeCache();
    expect(cache).toBeInstanceOf(Uint8Array);
    expect(cache!.length).toBeGreaterThan(100_000); // SES's bytecode, not just the top level
    expect(await supervisorCodeCache()).toBe(cache);
    const source = await supervisorScript();
    expect(await prepareWith({ source, cache })).toEqual({ t: "ready", codeCache: "used" });
  }, 60_000);

  it("refused by V8 (not the bundle's) leaves the worker compiling the bundle itself", async () => {
    const source = await supervisorScript();
    const garbage = new Uint8Array(4096).fill(7);
    expect(await prepareWith({ source, cache: garbage })).toEqual({ t: "ready", codeCache: "refused" });
    expect(await prepareWith({ source })).toEqual({ t: "ready", codeCache: "none" });
  }, 60_000);

  it("is made again when V8 refused the current one (the process's flags changed since)", async () => {
    const first = await supervisorCodeCache();
    supervisorCodeRefused(new Uint8Array(8)); // not the current cache: nothing happens
    expect(await supervisorCodeCache()).toBe(first);
    supervisorCodeRefused(first);
    const second = await supervisorCodeCache();
    expect(second).toBeInstanceOf(Uint8Array);
    expect(second).not.toBe(first);
    expect(await prepareWith({ source: await supervisorScript(), cache: second })).toEqual({
      t: "ready",
      codeCache: "used",
    });
  }, 60_000);

  it.each([
    ["a thread of the host", false],
    ["a cell", true],
  ])(
    "starts a cold domain in %s once it is made",
    async (_where, cells) => {
      await supervisorCodeCache();
      hv = boot({ cells, pool: 0 });
      const d = hv.createDomain({ name: "cached", memoryMiB: 8, program: guest("smoke") });
      await consoleShows(hv, d.domid, "smoke: hello", 30_000);
      expect((await shutdownOf(hv, d.domid)).reason).toBe(0);
    },
    60_000,
  );
});
