/**
 * Domain creation: from createDomain() to the guest program's main() running — its first line,
 * which the hypervisor sees as a console_io hypercall (timed there, no polling) — from the warm pool
 * and cold, beside the cost of starting a bare worker thread; and how long twenty small domains
 * take to come up at once.
 *
 * Each create is timed alone on a quiet host: the last domain has shut down and, for the pool,
 * the pool is full again (its refill waits for boots to end, so it never runs inside a create).
 */
import { Worker } from "node:worker_threads";
import { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { median, p99, type BenchRow } from "./stats.ts";
import { startBenchHost } from "./bench-host.ts";
import { guarded } from "./hang-guard.ts";

/** The domain size timed creates use unless told others (`--memory`; the pool prepares for it). */
const MEMORY_MIB = 8;
const SMOKE = new URL("../guests/smoke.ts", import.meta.url).href;
/** smoke.ts's first statement in main(). */
const MAIN_LINE = "smoke: hello";

async function bareWorker(): Promise<number> {
  const t0 = performance.now();
  const w = new Worker("require('node:worker_threads').parentPort.postMessage(1)", { eval: true });
  await new Promise((r) => w.once("message", r));
  const dt = performance.now() - t0;
  await w.terminate();
  return dt;
}

/** A host whose console sink resolves `mainRan` when a domain's main() prints its first line. */
function host(cells: boolean, pool: number, memoryMiB: number) {
  let waiting: ((t: number) => void) | undefined;
  const hv = new Hypervisor({
    cells,
    pool,
    poolMemoryMiB: memoryMiB,
    consoleSink: (_domid, text) => {
      if (text.includes(MAIN_LINE)) waiting?.(performance.now());
    },
  }).boot();
  const mainRan = () => new Promise<number>((r) => (waiting = r));
  return { hv, mainRan };
}

/** Waits for `domid` to shut down (smoke.ts powers off after a 30 ms sleep); throws on a crash. */
function poweredOff(hv: Hypervisor, domid: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const on = (e: { domid: number; state: string; why?: string }) => {
      if (e.domid !== domid || e.state !== "shutdown") return;
      hv.off("domain", on);
      const d = hv.domains.get(domid);
      if (d?.crashReason) reject(new Error(`domain-create: dom${domid} crashed: ${d.crashReason}`));
      else resolve();
    };
    hv.on("domain", on);
  });
}

/** create → main() for `rounds` domains of `memoryMiB`, one at a time, from the pool (pool > 0) or cold. */
async function timeCreates(
  cells: boolean,
  pool: number,
  rounds: number,
  memoryMiB: number,
): Promise<number[]> {
  const { hv, mainRan } = host(cells, pool, memoryMiB);
  const times: number[] = [];
  try {
    // One untimed create first: it builds the guest image and the supervisor (cached from then on).
    for (let i = -1; i < rounds; i++) {
      if (hv.pool) await hv.pool.whenReady();
      const ran = mainRan();
      const t0 = performance.now();
      const d = hv.createDomain({ name: `b${i + 1}`, memoryMiB, program: SMOKE });
      const off = poweredOff(hv, d.domid);
      const t1 = await ran;
      if (i >= 0) times.push(t1 - t0);
      await off;
      hv.destroyDomain(d.domid);
      // Let the cold path's spare cell finish spawning, as a real host between creates would.
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await hv.close();
  }
  return times;
}

/** The toolstack creates' guest: main() prints {"phase":"main"} first. */
const MAIN_LINE_GUEST = new URL("./guests/main-line.ts", import.meta.url).pathname;
/** A hang guard only: a create that never reaches main() fails the bench instead of hanging it. */
const TOOLSTACK_CREATE_GUARD_MS = 60_000;

/**
 * create → main() through dom0's toolstack, as `pvkit create` makes a domain: the control socket,
 * the toolstack's domctls and xenstore entries, the guest's xenstore and console set-up at boot —
 * none of which a domain from createDomain() without dom0 has. Timed to its first line on its
 * console as a console client reads it through dom0, from the pool.
 */
async function timeToolstackCreates(cells: boolean, rounds: number, memoryMiB: number): Promise<number[]> {
  const host = await startBenchHost("create", cells, 1, memoryMiB);
  const times: number[] = [];
  try {
    // One untimed create first, as in timeCreates.
    for (let i = -1; i < rounds; i++) {
      await host.poolReady();
      const name = `tc${i + 1}`;
      let ran!: (t: number) => void;
      const mainRan = new Promise<number>((r) => (ran = r));
      const t0 = performance.now();
      await host.create(name, `name = "${name}"\nkernel = "${MAIN_LINE_GUEST}"\nmemory = ${memoryMiB}\n`);
      const console = await host.follow(name, (o) => {
        if (o.phase === "main") ran(performance.now());
      });
      const t1 = await guarded(
        mainRan,
        TOOLSTACK_CREATE_GUARD_MS,
        () => `domain-create: ${name} never reached main()`,
      );
      console.close();
      if (i >= 0) times.push(t1 - t0);
      await host.request({ op: "destroy", domain: name });
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await host.close();
  }
  return times;
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

/** `many` 4 MiB domains created at once, until every one is up (cold: no pool). */
async function manyAtOnce(cells: boolean, many: number): Promise<number> {
  const hv = new Hypervisor({ cells }).boot();
  const program = new URL("../guests/idle.ts", import.meta.url).href;
  try {
    const t0 = performance.now();
    const ids: number[] = [];
    for (let i = 0; i < many; i++)
      ids.push(hv.createDomain({ name: `dense${i}`, memoryMiB: 4, program }).domid);
    await printed(hv, ids, "idle: up", 5);
    return performance.now() - t0;
  } finally {
    await hv.close();
  }
}

/**
 * @param cells whether domains run in cells (processes of their own) or the host's process
 * @param rounds domains created one at a time, each timed, per path (pool and cold) and size
 * @param many domains created at once, timed together
 * @param sizes the memory of the timed domains, in MiB: each size is timed in turn
 */
export async function benchDomainCreate(
  cells = true,
  rounds = 20,
  many = 20,
  sizes: readonly number[] = [MEMORY_MIB],
): Promise<BenchRow[]> {
  const bare: number[] = [];
  for (let i = 0; i < rounds; i++) bare.push(await bareWorker());
  const baseline = { name: "bare worker thread start", median: median(bare) };
  const rows: BenchRow[] = [];
  for (const [n, memoryMiB] of sizes.entries()) {
    const pooled = await timeCreates(cells, 1, rounds, memoryMiB);
    const cold = await timeCreates(cells, 0, rounds, memoryMiB);
    rows.push(
      {
        metric: `domain create → main() running, from the pool (${memoryMiB} MiB)`,
        unit: "ms",
        median: median(pooled),
        p99: p99(pooled),
        baseline,
        note: `${rounds} creates`,
      },
      {
        metric: `domain create → main() running, cold (${memoryMiB} MiB)`,
        unit: "ms",
        median: median(cold),
        p99: p99(cold),
        baseline,
        note: `${rounds} creates`,
      },
    );
    if (n > 0) continue;
    const toolstack = await timeToolstackCreates(cells, rounds, memoryMiB);
    rows.push({
      metric: `pvkit create → main() through dom0, from the pool (${memoryMiB} MiB)`,
      unit: "ms",
      median: median(toolstack),
      p99: p99(toolstack),
      baseline,
      note: `${rounds} creates, to its first console line`,
    });
  }
  rows.push({ metric: `${many} domains of 4 MiB up`, unit: "ms", median: await manyAtOnce(cells, many) });
  return rows;
}
