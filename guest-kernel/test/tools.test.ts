import { afterEach, describe, expect, it } from "vitest";
import { bootKernel } from "../src/kernel/main.ts";
import { SHUTDOWN_suspend } from "../src/kernel/xen.ts";
import { FakeXen } from "./helpers/fake-xen.ts";
import { FakeXenstored } from "./helpers/fake-xenstored.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A kernel with xenstore but no console ring (console_io only, like dom0). */
function boot() {
  const xen = new FakeXen().live();
  cleanups.push(() => xen.dispose());
  const page = new DataView(new SharedArrayBuffer(4096));
  const xs = new FakeXenstored(page, () => xen.raise(10), 2);
  xen.onSend = (p) => p === 10 && setImmediate(() => xs.poll());
  const closed: string[] = [];
  const { kernel, done } = bootKernel({
    domid: 2,
    privileged: false,
    xen,
    sharedInfo: xen.shared,
    nrPages: 64,
    cmdLine: "",
    flags: 0,
    store: { page, evtchn: 10 },
    programUrl: "data:text/javascript,export default () => new Promise(() => {})",
  });
  kernel.onShutdown("vbd", async () => void closed.push("vbd"));
  kernel.onShutdown("vif", async () => void closed.push("vif"));
  kernel.onShutdown("stuck", () => new Promise(() => undefined));
  const settle = async (pred: () => boolean) => {
    for (let i = 0; i < 500 && !pred(); i++) await new Promise((r) => setTimeout(r, 2));
  };
  return { xen, xs, kernel, done, closed, settle };
}

describe("guest tools", { timeout: 5000 }, () => {
  it("ignores an unknown request, then suspends: drivers closed newest first, SHUTDOWN_suspend", async () => {
    const d = boot();
    await d.settle(() => d.xs.watches.some((w) => w.path === "control/shutdown"));
    expect(d.xs.tree.get("/local/domain/2/control/feature-suspend")).toBe("1");
    d.xs.set("control/shutdown", "explode");
    await d.settle(() => d.xen.console.join("").includes("unknown shutdown request"));
    expect(d.xen.shutdownReason).toBeNull();
    d.xs.set("control/shutdown", "suspend");
    await d.done;
    expect(d.xen.shutdownReason).toBe(SHUTDOWN_suspend);
    expect(d.closed).toEqual(["vif", "vbd"]);
    expect(d.xen.console.join("")).toMatch(/shutdown: closing stuck timed out after 2000 ms/);
    // Without a console ring, everything went out through console_io.
    expect(d.xen.console.join("")).toMatch(/pvkit .* domain 2, 64 pages \(256 KiB\)/);
  });
});
