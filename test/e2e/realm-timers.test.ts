/**
 * A domU program that resumes from its realm's timers and then calls its kernel, in a cell, as
 * guest programs are told they may: every call is answered and the program ends (test/guests/
 * timer-calls.ts). It once wedged: a call made while the kernel's loop was blocked in SCHEDOP_block
 * ended the block, but the loop's wait for that end listened on the cell's bell while the hypervisor
 * had woken the call's sleep by futex.
 */
import { join } from "node:path";
import { expect, it } from "vitest";
import { REPO, e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-timers-");

it(
  "a program woken by setTimeout/setImmediate/setInterval can call its kernel",
  { timeout: 60_000 },
  async () => {
    const file = join(stage.dir, "timers.cfg");
    const config = `name = "timers"\nkernel = "${join(REPO, "test/guests/timer-calls.ts")}"\nmemory = 8\n`;
    await stage.control({ op: "create", config, file });
    const out = await stage.console("timers", "", /timer-calls: done[^\n]*\n/);
    expect(out).toMatch(/timeout 4 timers/);
    expect(out).toMatch(/timer-calls: done as timers after 5 interval calls/);
  },
);
