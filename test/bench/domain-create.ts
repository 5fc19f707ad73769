/**
 * Domain creation: from createDomain() to the guest kernel's first console line (its boot banner),
 * and how many small domains fit (density), beside the cost of starting a bare worker thread.
 */
import { Worker } from "node:worker_threads";
import { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { median, type BenchRow } from "./stats.ts";

async function bareWorker(): Promise<number> {
  const t0 = performance.now();
  const w = new Worker("require('node:worker_threads').parentPort.postMessage(1)", { eval: true });
  await new Promise((r) => w.once("message", r));
  const dt = performance.now() - t0;
  await w.terminate();
  return dt;
}

/** Waits until every domain in `ids` printed `text`; a domain that ended first fails the bench. */
async function printed(hv: Hypervisor, ids: number[], text: string, pollMs: number): Promise<void> {
  while (!ids.every((id) => hv.consoleLog(id).includes(text))) {
    for (const id of ids) {
      const d = hv.domains.get(id);
      if (d?.state !== "running")
        throw new Error(`domain-create: dom${id} is ${d?.state ?? "gone"} (${d?.crashReason ?? ""})`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * @param cells whether domains run in cells (processes of their own) or the host's process
 * @param rounds domains created one at a time, each timed
 * @param many domains created at once, timed together
 */
export async function benchDomainCreate(cells = true, rounds = 8, many = 20): Promise<BenchRow[]> {
  const hv = new Hypervisor({ cells }).boot();
  const program = new URL("../guests/smoke.ts", import.meta.url).href;
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const d = hv.createDomain({ name: `b${i}`, memoryMiB: 8, program });
    await printed(hv, [d.domid], "guest kernel", 1);
    times.push(performance.now() - t0);
    hv.destroyDomain(d.domid);
  }
  const density: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < many; i++)
    density.push(
      hv.createDomain({
        name: `dense${i}`,
        memoryMiB: 4,
        program: new URL("../guests/idle.ts", import.meta.url).href,
      }).domid,
    );
  await printed(hv, density, "idle: up", 5);
  const dt = performance.now() - t0;
  await hv.close();
  const bare: number[] = [];
  for (let i = 0; i < rounds; i++) bare.push(await bareWorker());
  return [
    {
      metric: "domain create → first console line",
      unit: "ms",
      median: median(times),
      baseline: { name: "bare worker thread start", median: median(bare) },
    },
    { metric: `${many} domains of 4 MiB up`, unit: "ms", median: dt },
  ];
}
