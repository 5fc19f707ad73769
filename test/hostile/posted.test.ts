/**
 * Posted traps (PvkitMachine.post): a guest's notify returns before the hypervisor has answered it,
 * and the vCPU's next trap collects that answer. What a guest could try with it
 * (guests/posted.ts): post a call whose answer matters (a block, a shutdown, a console write) or
 * arguments that are not registers — refused with a TypeError, nothing left in flight; post from a
 * timer while its vCPU is blocked — the block ends first and the send is delivered; rely on a
 * posted send having been delivered when its next trap returns — it must have been, even when a
 * console line longer than the scratch page was written in between; post
 * thousands back to back, to ports it does not have and through pointers outside its memory — the
 * host answers them all; power off with one uncollected. In a cell and with cells off.
 */
import { afterEach, expect, it } from "vitest";
import type { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { boot, reports, shutdownOf } from "../hypervisor/helpers.ts";
import { hostileGuest } from "./harness.ts";

let hv: Hypervisor | undefined;
afterEach(() => hv?.close());

const STORM = 20_000;

it.each([true, false])(
  "a guest that abuses posted traps gets refusals and nothing else (cells %s)",
  async (cells) => {
    hv = boot({ cells });
    const h = hv;
    const d = h.createDomain({
      name: "poster",
      memoryMiB: 8,
      kernel: hostileGuest("posted"),
      cmdline: `storm=${STORM}`,
      rings: false,
    });
    const end = await shutdownOf(h, d.domid);
    const r = reports(h, d.domid)[0];
    expect(r, h.consoleLog(d.domid)).toBeDefined();
    expect(r!.refused).toEqual({
      block: "TypeError",
      shutdown: "TypeError",
      console: "TypeError",
      close: "TypeError",
      numberArgs: "TypeError",
      objectArgs: "TypeError",
    });
    expect(r!.afterRefusals).toBeGreaterThan(0);
    expect(r!.interruptDelivered).toBe(r!.interruptRounds);
    expect(r!.delivered).toBe(r!.rounds);
    expect(r!.consoleDelivered).toBe(r!.consoleRounds);
    expect(r!.afterStorm).toBeGreaterThan(0);
    // Powered off with a send in flight: no crash.
    expect(end.reason).toBe(0);
    expect(end.why).toBeUndefined();
    // Every post was a trap the service answered: the storm, the rounds and the last.
    expect(d.hypercalls).toBeGreaterThanOrEqual(STORM + 2 * (r!.rounds as number));

    // The host still boots and serves a domain afterwards.
    const next = h.createDomain({
      name: "after",
      memoryMiB: 8,
      kernel: hostileGuest("posted"),
      cmdline: "storm=0",
      rings: false,
    });
    expect((await shutdownOf(h, next.domid)).reason).toBe(0);
    expect(reports(h, next.domid)[0]!.delivered).toBe(200);
  },
  120_000,
);
