import { afterEach, describe, expect, it } from "vitest";
import { bootInfoFromArch, type ArchBootLike } from "../src/kernel/archboot.ts";
import type { SdkHypercalls } from "../src/kernel/hypercalls.ts";
import { bootKernel, kernelMain } from "../src/kernel/main.ts";
import { ByteRing } from "../src/kernel/bytering.ts";
import { SHUTDOWN_poweroff, XENCONS } from "../src/kernel/xen.ts";
import { FakeXen } from "./helpers/fake-xen.ts";
import { FakeXenstored } from "./helpers/fake-xenstored.ts";
import { noGrantOps } from "./helpers/no-grant-ops.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** An arch handoff whose SDK stubs land in a FakeXen, and whose memory is a page map. */
function arch(programUrl?: string) {
  const xen = new FakeXen().live();
  cleanups.push(() => xen.dispose());
  const pages = new Map<number, DataView>();
  const page = (pfn: number) => {
    if (!pages.has(pfn)) pages.set(pfn, new DataView(new SharedArrayBuffer(4096)));
    return pages.get(pfn)!;
  };
  const memory = {
    write: (a: number, b: Uint8Array) => new Uint8Array(page(a >> 12).buffer).set(b, a & 4095),
    read: (a: number, n: number) => new Uint8Array(page(a >> 12).buffer).slice(a & 4095, (a & 4095) + n),
    page,
  };
  const hc: SdkHypercalls = {
    eventChannelOp: {
      send: (a) => xen.evtchnSend(a.port),
      unmask: (a) => xen.evtchnUnmask(a.port),
      close: (a) => xen.evtchnClose(a.port),
      bindVirq: (a) => ({ port: xen.evtchnBindVirq(a.virq) }),
      bindIpi: () => ({ port: xen.evtchnBindIpi() }),
      allocUnbound: () => ({ port: xen.evtchnAllocUnbound() }),
      bindInterdomain: () => ({ local_port: xen.evtchnBindInterdomain() }),
    },
    schedOp: { yield: () => undefined, block: () => xen.block(), shutdown: (a) => xen.shutdown(a.reason) },
    setTimerOp: (t) => xen.setTimer(t),
    consoleIo: { write: (b) => (xen.consoleWrite(b), b.length) },
    grantTableOp: {
      setupTable: (ops) => {
        const v = new DataView(new ArrayBuffer(ops[0].nr_frames * 8));
        for (let i = 0; i < ops[0].nr_frames; i++) v.setBigUint64(i * 8, BigInt(0x9000 + i), true);
        memory.write(Number(ops[0].frame_list), new Uint8Array(v.buffer));
        return [{ status: 0, nr_frames: ops[0].nr_frames }];
      },
      ...noGrantOps,
    },
    memoryOp: {
      populatePhysmap: (r) => Number(r.nr_extents),
      decreaseReservation: (r) => Number(r.nr_extents),
    },
  };
  const xs = new FakeXenstored(page(1), () => xen.raise(10), 9);
  const out = new ByteRing(page(2), {
    data: XENCONS.out,
    size: XENCONS.outSize,
    cons: XENCONS.outCons,
    prod: XENCONS.outProd,
  });
  let screen = "";
  xen.onSend = (p) => {
    if (p === 10) setImmediate(() => xs.poll());
    if (p === 11) screen += new TextDecoder().decode(out.read());
  };
  const boot: ArchBootLike = {
    domid: 9,
    hc,
    memory,
    mapFrames: (frames) => frames.map((f) => page(f)),
    sharedInfo: xen.shared,
    startInfo: {
      nr_pages: 128n,
      flags: 0,
      store_mfn: 1n,
      store_evtchn: 10,
      console: { domU: { mfn: 2n, evtchn: 11 } },
      cmd_line: "quiet",
    },
    scratch: { addr: 3 * 4096, size: 8192 },
    programUrl,
  };
  return { xen, xs, boot, screen: () => screen };
}

describe("arch handoff", { timeout: 5000 }, () => {
  it("reserves the rings, the scratch area and one extent page; reads privilege from SIF flags", () => {
    const a = arch();
    const info = bootInfoFromArch(a.boot);
    expect(info.nrPages).toBe(128);
    expect(info.privileged).toBe(false);
    expect(new Set(info.reservedPfns)).toEqual(new Set([0, 1, 2, 3, 4]));
    expect(info.store?.evtchn).toBe(10);
    const dom0 = bootInfoFromArch({
      ...a.boot,
      startInfo: {
        ...a.boot.startInfo,
        flags: 3,
        store_evtchn: 0,
        console: { domU: { mfn: 0n, evtchn: 0 } },
      },
    });
    expect(dom0.privileged).toBe(true);
    expect(dom0.store).toBeUndefined();
    expect(dom0.console).toBeUndefined();
  });

  it("kernelMain boots through the SDK stubs, runs the program and powers off", async () => {
    const url =
      "data:text/javascript,export default async (k) => { k.print('hi ' + k.domid + ' ' + k.cmdline); }";
    const a = arch(url);
    await kernelMain(a.boot);
    expect(a.xen.shutdownReason).toBe(SHUTDOWN_poweroff);
    expect(a.screen()).toMatch(/domain 9, 128 pages[\s\S]*hi 9 quiet/);
  });

  it("shares a zeroed page with a peer through the grant table and refuses release while mapped", async () => {
    const a = arch();
    const info = bootInfoFromArch(a.boot);
    const { kernel, done } = bootKernel(info);
    const dirty = info.page!(5);
    dirty.setUint32(0, 0xdeadbeef);
    const p = kernel.grants.share(0);
    expect(p.pfn).toBe(5);
    expect(p.view.getUint32(0)).toBe(0);
    const table = info.mapFrames!([0x9000])[0];
    expect(table.getUint16(p.ref * 8 + 2, true)).toBe(0);
    expect(table.getUint32(p.ref * 8 + 4, true)).toBe(5);
    table.setUint16(p.ref * 8, table.getUint16(p.ref * 8, true) | 0x10, true); // GTF_writing
    expect(p.release()).toBe(false);
    table.setUint16(p.ref * 8, 1, true);
    expect(p.release()).toBe(true);
    expect(kernel.mm.stats().used).toBe(info.reservedPfns!.length);
    await kernel.shutdown("poweroff");
    await done;
  });
});
