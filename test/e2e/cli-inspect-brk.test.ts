/**
 * `pvkit create --inspect-brk`: the guest's worker opens the inspector and waits for a debugger
 * before any of the domain runs — not even its kernel's boot banner reaches the console — and once a
 * debugger attaches and says Runtime.runIfWaitingForDebugger, stops at the first statement of the
 * domain's code (as node --inspect-brk), to run on when resumed.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ControlClient } from "@pvkit/hypervisor/cli/client";
import { cdpSession } from "./cdp.ts";
import { REPO, e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-brk-");
const IDLE = join(REPO, "test/guests/idle.ts"); // prints "idle: up in domain N", then sleeps

/** A console session that keeps everything the guest prints; `until` waits for a pattern. */
async function consoleTap(domain: string) {
  const c = await ControlClient.open(stage.host.socket);
  await c.request({ op: "console", domain });
  let text = "";
  let waiter: (() => void) | undefined;
  c.rawMode((b) => {
    text += b.toString();
    waiter?.();
  });
  return {
    get text() {
      return text;
    },
    until(re: RegExp): Promise<void> {
      return new Promise((resolve) => {
        waiter = () => re.test(text) && resolve();
        waiter();
      });
    },
    close: () => c.close(),
  };
}

describe("pvkit create --inspect-brk", { timeout: 60_000 }, () => {
  it("holds the guest until a debugger attaches and resumes it", async () => {
    const created = await stage.pvkit(["create", "--inspect-brk", stage.cfg("held", IDLE)]);
    expect(created.code).toBe(0);
    const ws = /^Debugger: devtools:\/\/\S*ws=(127\.0\.0\.1:\d+\/\S+)$/m.exec(created.out)?.[1];
    expect(ws, created.out).toBeDefined();
    expect(created.out).toMatch(/^Waiting for the debugger: held runs once one attaches/m);

    const held = await consoleTap("held");
    // A guest created after it, from the same program, boots and prints: the held one had every
    // chance to do the same, and printed nothing.
    expect((await stage.pvkit(["create", stage.cfg("free", IDLE)])).code).toBe(0);
    const free = await consoleTap("free");
    await free.until(/idle: up in domain \d+/);
    free.close();
    expect(held.text).toBe("");

    // As DevTools does on attaching: breakpoints on, then "run". The guest stops at once, at the
    // first statement of its own code, and still has printed nothing; resumed, it boots.
    const debug = await cdpSession(`ws://${ws}`);
    await debug.call("Debugger.enable");
    await debug.call("Runtime.runIfWaitingForDebugger");
    const paused = (await debug.event("Debugger.paused")) as { reason: string };
    expect(paused.reason).toBe("other"); // a `debugger` statement
    expect(held.text).toBe("");
    await debug.call("Debugger.resume");
    await held.until(/idle: up in domain \d+/);
    debug.close();
    expect(held.text).toContain("guest kernel: domain");
    held.close();
    for (const d of ["held", "free"]) expect((await stage.pvkit(["destroy", d])).code).toBe(0);
  });
});
