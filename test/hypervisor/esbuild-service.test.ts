/**
 * The image builders' esbuild process is stopped once idle (hypervisor/src/image/esbuild-service.ts)
 * and started again by the next build; a build in flight is never cut off by the stop.
 */
import { readFileSync, readdirSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { build, esbuildService } from "@pvkit/hypervisor/image/esbuild-service";

const idleMs = esbuildService.idleMs;
afterAll(() => void (esbuildService.idleMs = idleMs));

/** This process's child processes running esbuild (tsx's own may be one of them). */
function esbuildChildren(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm === "esbuild" && ppid === process.pid) pids.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

const tiny = (n: number) =>
  build({ stdin: { contents: `export const n = ${n};` }, write: false, format: "esm", logLevel: "silent" });

/** Resolves once `cond` holds, looking every 20 ms; the limit is a hang guard. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const limit = Date.now() + 30_000;
  while (!cond()) {
    if (Date.now() > limit) throw new Error(`${what} did not happen`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(process.platform !== "linux")("esbuild's process for images (reads /proc)", () => {
  it("is stopped once idle and started again by the next build", async () => {
    esbuildService.idleMs = 100;
    const before = new Set(esbuildChildren()); // tsx's, if it runs one here
    expect((await tiny(1)).outputFiles[0]!.text).toContain("n = 1");
    const ours = esbuildChildren().filter((pid) => !before.has(pid));
    expect(ours).toHaveLength(1);
    await until(() => !esbuildChildren().includes(ours[0]!), "the idle esbuild's stop");
    expect((await tiny(2)).outputFiles[0]!.text).toContain("n = 2");
    expect(esbuildChildren().filter((pid) => !before.has(pid) && pid !== ours[0])).toHaveLength(1);
  }, 60_000);

  it("is not stopped under a build in flight, however long the builds keep coming", async () => {
    esbuildService.idleMs = 1;
    const outs = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((n) => tiny(n)));
    outs.forEach((o, i) => expect(o.outputFiles[0]!.text).toContain(`n = ${i + 1}`));
    for (let n = 0; n < 20; n++) expect((await tiny(n)).errors).toEqual([]); // each after a stop
  }, 60_000);
});
