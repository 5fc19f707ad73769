/** BootWatch against a real xenstored: what ends a wait, and how a crash reason is found in the log. */
import { describe, expect, it } from "vitest";
import { Xenstored } from "@pvkit/guest-kernel/dom0/xenstored/index";
import { BootWatch, crashWhy } from "@pvkit/guest-kernel/dom0/toolstack/boot-watch";
import { SHUTDOWN_crash, SHUTDOWN_poweroff } from "@pvkit/abi/layout";

const LOG = [
  "pvkit hypervisor: 4096 frames (16 MiB)",
  "domain 3 (domain-3) shut down: crash (program main.ts has no default export function main(k))",
  "domain 4 (domain-4) shut down: crash (guest image failed to start: Error: boom",
  "    at main.ts:1:7)",
  "domain 5 (domain-5) shut down: poweroff",
].join("\n");

describe("BootWatch", () => {
  it("a guest that writes control/feature-poweroff has booted (the empty node libxl makes does not count)", async () => {
    const xs = new Xenstored();
    xs.write("/local/domain/7/control/feature-poweroff", "");
    const w = new BootWatch(xs, () => LOG);
    const wait = w.wait(7);
    await new Promise((r) => setImmediate(r));
    xs.write("/local/domain/7/control/feature-poweroff", "1");
    expect(await wait).toEqual({ state: "booted" });
  });

  it("a crash before that is a failed boot with the logged reason; a poweroff is a guest that finished", async () => {
    const xs = new Xenstored();
    const w = new BootWatch(xs, () => LOG);
    const crashed = w.wait(3);
    w.stopped(3, SHUTDOWN_crash);
    expect(await crashed).toEqual({
      state: "failed",
      reason: "crash",
      why: "program main.ts has no default export function main(k)",
    });
    const finished = w.wait(5);
    w.stopped(5, SHUTDOWN_poweroff);
    expect(await finished).toEqual({ state: "stopped", reason: "poweroff" });
  });

  it("answers 'still booting' once its guard passes, and forgets the domain", async () => {
    const w = new BootWatch(new Xenstored(), () => LOG);
    expect(await w.wait(9, 20)).toEqual({ state: "still booting" });
    w.stopped(9, SHUTDOWN_crash); // nobody waits any more: nothing happens
  });

  it("crashWhy takes the first line of a reason and its own parentheses", () => {
    expect(crashWhy(LOG, 3)).toBe("program main.ts has no default export function main(k)");
    expect(crashWhy(LOG, 4)).toBe("guest image failed to start: Error: boom");
    expect(crashWhy(LOG, 5)).toBeUndefined();
    expect(crashWhy(LOG, 6)).toBeUndefined();
  });
});
