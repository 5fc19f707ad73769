/**
 * The trap service finds a busy guest's traps without looking at every vCPU of the machine
 * (hypervisor/src/transport/trap-service.ts): it polls the vCPUs active lately and looks at the rest
 * only when the doorbell rang more than they explain, or on a backstop. Here a guest makes thousands
 * of back-to-back hypercalls while idle domains sit in SCHEDOP_block: full scans must stay a small
 * fraction of its traps, and every idle domain must still be found — each answers an event after.
 */
import { afterEach, expect, it } from "vitest";
import type { Domain } from "@pvkit/hypervisor/domain/domain";
import type { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { boot, consoleShows, kickIdleGuest, reports, shutdownOf } from "./helpers.ts";

let hv: Hypervisor;
afterEach(() => hv?.close());

const idleGuest = new URL("../bench/guests/idle-answer.ts", import.meta.url).href;
const nullHypercalls = new URL("../bench/guests/null-hypercall.ts", import.meta.url).href;
const IDLE = 24;
const CALLS = 5000;

it(`serves a busy guest from its hot set while ${IDLE} idle domains wait, and still finds them`, async () => {
  hv = boot({ cells: false });
  const idle: Domain[] = [];
  for (let i = 0; i < IDLE; i++)
    idle.push(hv.createDomain({ name: `idle${i}`, memoryMiB: 4, program: idleGuest }));
  await Promise.all(idle.map((d) => consoleShows(hv, d.domid, "idle: up", 60_000)));

  const scans0 = hv.trap.fullScans;
  const busy = hv.createDomain({
    name: "busy",
    memoryMiB: 8,
    kernel: nullHypercalls,
    rings: false,
    cmdline: `busy=${CALLS} idle=10`,
  });
  await shutdownOf(hv, busy.domid);
  expect(reports(hv, busy.domid)[0]).toHaveProperty("busy.n");
  const scans = hv.trap.fullScans - scans0;
  expect(busy.vcpu.traps).toBeGreaterThan(CALLS);
  // One full scan per trap is what polling every vCPU amounts to; the hot set needs a few: the
  // guest's first trap, a backstop every 10 ms while busy, the domain's creation and end.
  expect(scans).toBeLessThan(busy.vcpu.traps / 20);

  // The idle domains left the hot set long ago; an event must still reach each and its answer come.
  for (const d of idle) {
    await kickIdleGuest(hv, d);
    await consoleShows(hv, d.domid, "answer 1", 30_000);
  }
}, 180_000);

it("sleeps a second at a time once the host is quiet, and 100 ms again once the doorbell is forged", async () => {
  hv = boot({ cells: false });
  const idle: Domain[] = [];
  for (let i = 0; i < 8; i++)
    idle.push(hv.createDomain({ name: `quiet${i}`, memoryMiB: 4, program: idleGuest }));
  await Promise.all(idle.map((d) => consoleShows(hv, d.domid, "idle: up", 60_000)));

  /** Full scans in the next `ms`: with nothing trapping, each is a wake of the sleep's backstop. */
  const scansIn = async (ms: number) => {
    const before = hv.trap.fullScans;
    await new Promise((r) => setTimeout(r, ms));
    return hv.trap.fullScans - before;
  };
  // The guests' starts end; then a quiet window of 3 s holds one to four backstop wakes (30 at 100 ms).
  let scans = Infinity;
  for (let w = 0; w < 20 && !(scans >= 1 && scans <= 4); w++) scans = await scansIn(3000);
  expect(scans).toBeGreaterThanOrEqual(1);
  expect(scans).toBeLessThanOrEqual(4);

  // A worker that escaped its realm counts the doorbell backwards: the next wake sees it, and the
  // service goes back to looking every 100 ms.
  const forgeries = hv.trap.forgeries;
  Atomics.sub(hv.trap.doorbell, 0, 1);
  while (hv.trap.forgeries === forgeries) await new Promise((r) => setTimeout(r, 50));
  expect(await scansIn(3000)).toBeGreaterThan(8);
}, 180_000);
