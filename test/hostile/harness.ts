/**
 * The stage every hostile test plays on: a real host (`pvkit up`'s startHost: the hypervisor, dom0
 * with xenstored, xenconsoled and the toolstack) with a bystander domain created the way a user
 * creates one (an xl.cfg file through dom0's toolstack). After each attack, healthy() checks that dom0
 * still answers the control socket and that the bystander still makes hypercalls.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { expect } from "vitest";
import { startHost, type Host } from "@pvkit/hypervisor/cli/host";
import { ControlClient } from "@pvkit/hypervisor/cli/client";
import type { Hypervisor, HypervisorOptions } from "@pvkit/hypervisor/hypervisor";
import type { Domain } from "@pvkit/hypervisor/domain/domain";

export const REPO = resolve(import.meta.dirname, "../..");
export const hostileGuest = (name: string) => new URL(`./guests/${name}.ts`, import.meta.url).href;

export interface Stage {
  host: Host;
  hv: Hypervisor;
  dir: string;
  bystander: Domain;
  close(): Promise<void>;
}

/** Sends one control request to dom0's toolstack. */
export async function control<T>(stage: Stage, req: Record<string, unknown>): Promise<T> {
  const c = await ControlClient.open(stage.host.socket);
  try {
    return await c.request<T>(req as never);
  } finally {
    c.close();
  }
}

/** Boots a host and a bystander guest (the ticker program, through the toolstack). */
export async function stage(hypervisor: Omit<HypervisorOptions, "consoleSink"> = {}): Promise<Stage> {
  const dir = mkdtempSync(join(tmpdir(), "pvkit-hostile-"));
  const host = await startHost({ socket: join(dir, "control.sock"), log: () => {}, hypervisor });
  const file = join(dir, "bystander.cfg");
  const cfg = `name = "bystander"\nkernel = "${join(REPO, "test/guests/ticker.ts")}"\nmemory = 8\n`;
  writeFileSync(file, cfg);
  const s: Stage = {
    host,
    hv: host.hv,
    dir,
    bystander: undefined as unknown as Domain,
    close: async () => {
      await host.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const { domid } = await control<{ domid: number }>(s, { op: "create", config: cfg, file });
  s.bystander = host.hv.domains.get(domid)!;
  await until(() => s.bystander.vcpu.traps > 20, "the bystander to start ticking");
  return s;
}

/** Waits for `cond`, checking every 10 ms; the deadline is only a hang guard. */
export async function until(cond: () => boolean, what: string, guardMs = 30_000): Promise<void> {
  const deadline = Date.now() + guardMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** dom0 answers its control socket and the bystander keeps making hypercalls. */
export async function healthy(s: Stage): Promise<void> {
  expect(s.hv.domains.get(0)?.state).toBe("running");
  const list = await control<{ name: string; state: string }[]>(s, { op: "list" });
  expect(list.map((d) => d.name)).toContain("bystander");
  const traps = s.bystander.vcpu.traps;
  await until(() => s.bystander.vcpu.traps > traps + 5, "the bystander to make more hypercalls");
  expect(s.bystander.state).toBe("running");
}

// The JSON lines a guest printed on console_io (rings off: the kernel prints there), and a domain's
// shutdown: the same helpers the hypervisor's own integration tests use.
export { reports, shutdownOf } from "../hypervisor/helpers.ts";
