/**
 * A pooled worker boots pvkit's kernel once on a machine of its own before it serves a domain
 * (hypervisor/src/realm/rehearsal.ts). The domain then runs in that same realm: a guest that hunts
 * for the rehearsal's machine, memory or console text (guests/rehearsal-remnants.ts) finds none of
 * them, sees its own machine, and walks a realistic part of its realm doing so — in a cell and with
 * cells off.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Hypervisor } from "@pvkit/hypervisor/hypervisor";
import { boot, reports, shutdownOf } from "../hypervisor/helpers.ts";
import { hostileGuest } from "./harness.ts";

const GUARD = 60_000;
let hv: Hypervisor | undefined;
afterEach(async () => {
  await hv?.close();
  hv = undefined;
});

describe.each([true, false])("a pooled guest hunting for its worker's rehearsal (cells %s)", (cells) => {
  it(
    "finds nothing of it: no rehearsal machine, memory or console text is reachable",
    async () => {
      hv = boot({ cells, pool: 1, poolMemoryMiB: 8 });
      await hv.pool!.whenReady(1);
      const d = hv.createDomain({
        name: "hunter",
        memoryMiB: 8,
        program: hostileGuest("rehearsal-remnants"),
      });
      expect((await shutdownOf(hv, d.domid, GUARD)).reason).toBe(0);
      expect(hv.pool!.stats()).toMatchObject({ served: 1, cold: 0 }); // it ran in a rehearsed worker
      const [report] = reports(hv, d.domid) as {
        machineDomid: number;
        handleDomid: number;
        walked: number;
        found: string[];
      }[];
      expect(report, hv.consoleLog(d.domid)).toBeDefined();
      expect(report!.found).toEqual([]);
      expect(report!.machineDomid).toBe(d.domid);
      expect(report!.handleDomid).toBe(d.domid);
      expect(report!.walked).toBeGreaterThan(400); // the walk was not empty: ~500 objects here
    },
    GUARD * 2,
  );
});
