/** Shared helpers for the hypervisor integration tests: boot, wait for shutdowns, read guest reports. */
import { expect } from "vitest";
import type { Domain } from "@pvkit/hypervisor/domain/domain";
import { Hypervisor, type HypervisorOptions } from "@pvkit/hypervisor/hypervisor";
import { SAMPLER_DOZING } from "@pvkit/hypervisor/realm/vcpu-page";

export const guest = (name: string) => new URL(`../guests/${name}.ts`, import.meta.url).href;

export function boot(o: HypervisorOptions = {}): Hypervisor {
  return new Hypervisor(o).boot();
}

/**
 * Resolves with `domid`'s shutdown (reason and why). The deadline is only a hang guard: it rejects
 * with every domain's state and console, to show what hung.
 */
export function shutdownOf(
  hv: Hypervisor,
  domid: number,
  ms = 60_000,
): Promise<{ reason: number; why?: string }> {
  const d = hv.domains.get(domid);
  if (d?.state === "shutdown")
    return Promise.resolve({ reason: d.shutdownReason!, ...(d.crashReason ? { why: d.crashReason } : {}) });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      hv.off("domain", on);
      const all = [...hv.domains.values()].map(
        (x) =>
          `dom${x.domid} ${x.state} ${x.shutdownReason ?? ""} ${x.crashReason ?? ""} inflight=${x.vcpu.inFlight} trap=${Atomics.load(x.vcpu.words, 0)}: ${hv.consoleLog(x.domid)}`,
      );
      reject(new Error(`domain ${domid} did not shut down in ${ms} ms:\n${all.join("\n")}`));
    }, ms);
    const on = (e: { domid: number; state: string; reason: number; why?: string }) => {
      if (e.domid !== domid || e.state !== "shutdown") return;
      clearTimeout(t);
      hv.off("domain", on);
      resolve(e);
    };
    hv.on("domain", on);
  });
}

/** The JSON lines a raw guest reported on console_io. */
export function reports(hv: Hypervisor, domid: number): Record<string, unknown>[] {
  return hv
    .consoleLog(domid)
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Resolves once `domid`'s console log contains `text`. */
export async function consoleShows(hv: Hypervisor, domid: number, text: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!hv.consoleLog(domid).includes(text)) {
    if (Date.now() > deadline)
      throw new Error(`domain ${domid} never printed "${text}":\n${hv.consoleLog(domid)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Sends an idle guest (test/bench/guests/idle-answer.ts) an event on the port it opened for itself
 * and printed; it answers with "answer N" on its console.
 */
export async function kickIdleGuest(hv: Hypervisor, d: Domain): Promise<void> {
  await consoleShows(hv, d.domid, "idle: up", 30_000);
  const port = Number(/port (\d+)/.exec(hv.consoleLog(d.domid))![1]);
  const sender = hv.evtchn.bindInterdomain(d.domid, d.domid, port);
  expect(sender).toBeGreaterThan(0);
  expect(hv.evtchn.send(d.domid, sender)).toBe(0);
}

/**
 * Resolves once `d`'s activity sampler dozes (hypervisor/src/realm/doze.ts). It is a flag in shared
 * memory that nothing announces, so it is looked at every 20 ms; the limit is a hang guard.
 */
export async function dozes(d: Domain): Promise<void> {
  const limit = Date.now() + 30_000;
  while (Atomics.load(d.vcpu.pageViews.sampler, SAMPLER_DOZING) === 0) {
    if (Date.now() > limit) throw new Error(`dom${d.domid}'s sampler never dozed`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
