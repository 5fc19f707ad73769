/**
 * Host escape: a guest program tries every way out of its realm (guests/escape.ts). Not one attempt
 * may return host authority; dom0 and a bystander keep running.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthy, hostileGuest, reports, shutdownOf, stage, type Stage } from "./harness.ts";

let s: Stage;
beforeAll(async () => void (s = await stage()), 60_000);
afterAll(() => s?.close());

describe("a guest that tries to leave its realm", () => {
  it("gets nothing of the host: every attempt is blocked", async () => {
    const d = s.hv.createDomain({
      name: "escape",
      memoryMiB: 8,
      program: hostileGuest("escape"),
      rings: false,
    });
    expect((await shutdownOf(s.hv, d.domid)).reason).toBe(0); // it ran to the end and powered off
    const [report] = reports(s.hv, d.domid) as Record<string, string>[];
    expect(report, s.hv.consoleLog(d.domid)).toBeDefined();
    const escaped = Object.entries(report!).filter(([, v]) => !v.startsWith("blocked"));
    expect(escaped).toEqual([]);
    expect(Object.keys(report!).length).toBeGreaterThan(45);
    await healthy(s);
  });
});
