/**
 * A SCHEDOP_poll with a timeout leaves a host timer behind it. If its domain is destroyed while it
 * waits, that timer must die with the domain: when it fired it would answer the trap — write DONE
 * and a result into the vCPU's page — and that page, scrubbed and freed, may by then be another
 * domain's. A guest polls with a deadline and is destroyed before it; after the deadline, the page it
 * had must hold no answer.
 */
import { afterEach, expect, it } from "vitest";
import { PVKIT_TRAP_DONE, VIRQ_DEBUG } from "@pvkit/abi/layout";
import type { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { boot, reports } from "../hypervisor/helpers.ts";
import { until } from "./harness.ts";

let hv: Hypervisor | undefined;
afterEach(() => hv?.close());

it.each([false, true])("a destroyed domain's poll timeout answers nobody (cells %s)", async (cells) => {
  hv = boot({ cells });
  const h = hv;
  const d = h.createDomain({
    name: "poller",
    memoryMiB: 4,
    kernel: new URL("./guests/poll-deadline.ts", import.meta.url).href,
    rings: false,
  });
  await until(() => reports(h, d.domid).some((r) => r.phase === "ready"), "the guest to boot");
  // The deadline, 0.5 s from now in system time, at page 7; VIRQ_DEBUG says it is there.
  const deadline = h.clock.systemTime() + 500_000_000n;
  new DataView(d.p2m.get(7)!.buffer).setBigUint64(0, deadline, true);
  h.evtchn.sendVirq(d.domid, VIRQ_DEBUG);
  await until(() => reports(h, d.domid).some((r) => r.phase === "polling") && d.vcpu.inFlight, "the poll");
  const words = new Int32Array(d.vcpu.page.buffer, 0, 16);
  expect(h.destroyDomain(d.domid)).toBe(0);
  await until(() => !h.domains.has(d.domid), "the domain to be gone");

  // Host timers fire in the order of their deadlines: one set past the poll's fires after it would.
  const leftMs = Number(deadline - h.clock.systemTime()) / 1e6;
  await new Promise((r) => setTimeout(r, Math.max(0, leftMs) + 50));
  expect(h.clock.systemTime()).toBeGreaterThan(deadline);
  // The frame is scrubbed once the domain's worker is gone; DONE could only be the timer's answer.
  expect(Atomics.load(words, 0)).not.toBe(PVKIT_TRAP_DONE);
});
