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
