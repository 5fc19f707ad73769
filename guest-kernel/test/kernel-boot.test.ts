/**
 * The whole kernel booted against fakes: a FakeXen for hypercalls and shared_info, a
 * FakeXenstored on the xenstore ring, and the test as console backend. It drives the shell
 * through the console ring and shuts the domain down through control/shutdown.
 */
import { afterEach, describe, expect, it } from "vitest";
import { bootKernel } from "../src/kernel/main.ts";
import { ByteRing } from "../src/kernel/bytering.ts";
import { SHUTDOWN_crash, SHUTDOWN_poweroff, SHUTDOWN_reboot, XENCONS } from "../src/kernel/xen.ts";
import { FakeXen } from "./helpers/fake-xen.ts";
import { FakeXenstored } from "./helpers/fake-xenstored.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();
const STORE_PORT = 10;
const CONS_PORT = 11;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function bootDomain(programUrl?: string) {
  const xen = new FakeXen().live();
  cleanups.push(() => xen.dispose());
  const storePage = new DataView(new SharedArrayBuffer(4096));
  const consPage = new DataView(new SharedArrayBuffer(4096));
  const xenstored = new FakeXenstored(storePage, () => xen.raise(STORE_PORT), 3);
  const C = XENCONS;
  const consOut = new ByteRing(consPage, { data: C.out, size: C.outSize, cons: C.outCons, prod: C.outProd });
  const consIn = new ByteRing(consPage, { data: C.in, size: C.inSize, cons: C.inCons, prod: C.inProd });
  let screen = "";
  xen.onSend = (port) => {
    if (port === STORE_PORT) setImmediate(() => xenstored.poll());
    if (port === CONS_PORT) screen += dec.decode(consOut.read());
  };
  const t0 = performance.now();
  const { kernel, done } = bootKernel({
    domid: 3,
    privileged: false,
    xen,
    sharedInfo: xen.shared,
    nrPages: 256,
    maxPages: 512,
    reservedPfns: [0, 1, 2],
    cmdLine: "console=hvc0",
    flags: 0,
    store: { page: storePage, evtchn: STORE_PORT },
    console: { page: consPage, evtchn: CONS_PORT },
    programUrl,
  });
  const type = (text: string) => {
    consIn.write(enc.encode(text));
    xen.raise(CONS_PORT);
  };
  const waitFor = async (re: RegExp, ms = 3000) => {
    const end = Date.now() + ms;
    while (!re.test(screen)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}; screen:\n${screen}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  /** The domain's end, or a failure that shows the screen if it does not come. */
  const ended = (ms = 3000) =>
    Promise.race([
      done,
      new Promise<never>((_, rej) =>
        setTimeout(() => rej(new Error(`domain did not end; screen:\n${screen}`)), ms),
      ),
    ]);
  return { xen, xenstored, kernel, done, ended, type, waitFor, screen: () => screen, t0 };
}

describe("kernel boot against a fake hypervisor", { timeout: 10_000 }, () => {
  it("prints the banner, runs shell commands typed on the console ring, powers off on control/shutdown", async () => {
    const d = await bootDomain();
    await d.waitFor(/dom3\$ $/);
    const firstLine = performance.now() - d.t0;
    expect(d.screen()).toMatch(/^pvkit \S+ guest kernel: domain 3, 256 pages \(1\.0 MiB\)\r\n/);
    d.type("echo hello\r");
    await d.waitFor(/hello\r\ndom3\$ $/);
    d.type("xs-write data/x 42\r");
    await d.waitFor(/42\r\ndom3\$ $/);
    d.type("xs-read data/x\r");
    await d.waitFor(/data\/x\r\n42\r\ndom3\$ $/);
    expect(d.xenstored.tree.get("/local/domain/3/data/x")).toBe("42");
    expect(d.xenstored.tree.get("/local/domain/3/control/feature-poweroff")).toBe("1");
    d.type("ps\r");
    await d.waitFor(/init\r\n[\s\S]*dom3\$ $/);
    expect(d.screen()).toMatch(/waiting\s+sleep\s+\d+ wallclock/);
    d.xenstored.set("control/shutdown", "poweroff");
    await d.ended();
    expect(d.xen.shutdownReason).toBe(SHUTDOWN_poweroff);
    expect(d.xenstored.tree.get("/local/domain/3/control/shutdown")).toBe("");
    expect(d.screen()).toMatch(/shutdown: poweroff/);
    console.log(`boot to first console line: ${firstLine.toFixed(1)} ms (fake hypervisor)`);
  });

  it("sleeps on VIRQ_TIMER and follows the balloon target", async () => {
    const d = await bootDomain();
    await d.waitFor(/dom3\$ $/);
    const k = d.kernel.handle();
    const t = performance.now();
    await k.sleep(30);
    expect(performance.now() - t).toBeGreaterThanOrEqual(29);
    d.xenstored.set("memory/target", String(300 * 4));
    await d.waitFor(/balloon: target 300 pages, now 300/);
    d.type("reboot\r");
    await d.ended();
    expect(d.xen.shutdownReason).toBe(SHUTDOWN_reboot);
  });

  it("runs a guest program as init and powers off when it returns", async () => {
    const url = new URL("../../examples/hello-guest.ts", import.meta.url).href;
    const d = await bootDomain(url);
    d.xenstored.set("name", "hello");
    await d.ended();
    expect(d.xen.shutdownReason).toBe(SHUTDOWN_poweroff);
    expect(d.screen()).toMatch(/Hello from domain 3/);
    expect(d.screen()).toMatch(/init: program exited/);
  });

  it("crashes the domain, saying why, when the program throws or cannot load", async () => {
    const bad = await bootDomain(
      "data:text/javascript,export default async () => { throw new Error('bad luck') }",
    );
    await bad.ended();
    expect(bad.xen.shutdownReason).toBe(SHUTDOWN_crash);
    expect(bad.screen()).toMatch(/init: program failed: Error: bad luck/);
    const missing = await bootDomain("data:text/javascript,export const x = 1");
    await missing.ended();
    expect(missing.xen.shutdownReason).toBe(SHUTDOWN_crash);
    expect(missing.screen()).toMatch(/has no default export function main\(k\)/);
  });
});
