/**
 * The control socket's network requests, served by NetControl over a bridge and a store: a capture
 * stops and closes its file when the connection that started it closes (a CLI killed outright),
 * bad requests are one line naming what is wrong, and network-list reads a vif's xl columns from
 * the store with the port's counters beside them.
 */
import { EventEmitter } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { newCounters, type NetPort } from "@pvkit/drivers/net/port";
import type { CaptureStarted, CaptureSummary, NetworkDeviceRow } from "@pvkit/abi/toolstack-protocol";
import { Bridge } from "../src/dom0/netback/bridge.ts";
import { NetControl } from "../src/dom0/netback/net-control.ts";
import type { NetbackService } from "../src/dom0/netback/service.ts";

const dir = mkdtempSync(join(tmpdir(), "pvkit-netcontrol-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A vif as netback serves it: the parts network-list and capture look at. */
const vif = (domid: number, devid: number, mac: number) => ({
  name: `vif${domid}.${devid}`,
  domid,
  devid,
  mac: Uint8Array.of(0, 0x16, 0x3e, 0, 0, mac),
  mtu: 1500,
  bridgeOf: "pvbr0",
  counters: { ...newCounters(), txFrames: 7, txBytes: 700 },
  send: () => true,
});

function setup() {
  const bridge = new Bridge("pvbr0");
  const a = vif(1, 0, 1);
  const b = vif(2, 0, 2);
  bridge.attach(a as NetPort);
  bridge.attach(b as NetPort);
  const netback = {
    bridges: new Map([["pvbr0", bridge]]),
    list: () => [a, b],
    bridge: () => bridge,
  } as unknown as NetbackService;
  const store = new Map<string, string>();
  const fe = "/local/domain/1/device/vif/0";
  const be = "/local/domain/0/backend/vif/1/0";
  for (const [k, v] of Object.entries({
    [`${fe}/backend`]: be,
    [`${fe}/backend-id`]: "0",
    [`${fe}/handle`]: "0",
    [`${fe}/mac`]: "00:16:3e:00:00:01",
    [`${fe}/state`]: "4",
    [`${fe}/queue-0/event-channel`]: "9",
    [`${fe}/queue-0/tx-ring-ref`]: "12",
    [`${fe}/queue-0/rx-ring-ref0`]: "14",
    [`${be}/state`]: "4",
    [`${be}/mac`]: "00:16:3e:00:00:01",
    [`${be}/bridge`]: "pvbr0",
    [`${be}/mtu`]: "1500",
    [`${be}/link-state`]: "up",
  }))
    store.set(k, v);
  const storeAccess = {
    tryRead: (p: string) => store.get(p),
    directory: (p: string) => {
      const kids = [...store.keys()]
        .filter((k) => k.startsWith(`${p}/`))
        .map((k) => k.slice(p.length + 1).split("/")[0]!);
      if (kids.length === 0) throw new Error("ENOENT");
      return [...new Set(kids)];
    },
  };
  const resolve = (d: string) => {
    const id = { one: 1, two: 2, idle: 3 }[d];
    if (id === undefined) throw new Error(`no domain "${d}"`);
    return id;
  };
  return { bridge, a, b, control: new NetControl(netback, storeAccess, resolve) };
}

const frame = (dst: number, src: number) => {
  const f = new Uint8Array(60);
  f.set([0, 0x16, 0x3e, 0, 0, dst], 0);
  f.set([0, 0x16, 0x3e, 0, 0, src], 6);
  return f;
};

describe("NetControl", () => {
  it("stops a capture and closes its file when the CLI's connection closes", async () => {
    const { bridge, a, b, control } = setup();
    const conn = new EventEmitter();
    const file = join(dir, "closed.pcap");
    const started = (await control.handle(
      { id: 1, op: "capture-start", target: "one", file },
      conn,
    )) as CaptureStarted;
    expect(started.what).toBe("domain one (vif1.0)");
    const waiting = control.handle(
      { id: 2, op: "capture-wait", capture: started.capture },
      new EventEmitter(),
    );
    bridge.input(a as NetPort, frame(2, 1));
    bridge.input(b as NetPort, frame(1, 2));
    conn.emit("close");
    const r = (await waiting) as CaptureSummary;
    expect(r).toMatchObject({ file, frames: 2, bytes: 120, end: "stopped" });
    expect(readFileSync(file).length).toBe(24 + 2 * (16 + 60));
    await expect(
      control.handle({ id: 3, op: "capture-stop", capture: started.capture }, conn),
    ).rejects.toThrow(`capture-stop ${started.capture}: no such capture (it has ended)`);
  });

  it("refuses what cannot be captured, in one line each", async () => {
    const { control } = setup();
    const conn = new EventEmitter();
    const start = (target: string, file: string, more = {}) =>
      control.handle({ id: 1, op: "capture-start", target, file, ...more }, conn);
    await expect(start("nobody", join(dir, "x.pcap"))).rejects.toThrow(
      "capture nobody: no bridge or domain of that name",
    );
    await expect(start("idle", join(dir, "x.pcap"))).rejects.toThrow(
      "capture idle: it has no network interfaces",
    );
    await expect(start("pvbr0", "relative.pcap")).rejects.toThrow(
      'capture pvbr0: "relative.pcap" is not an absolute path',
    );
    await expect(start("pvbr0", dir)).rejects.toThrow(
      `capture pvbr0: cannot write ${dir}: it is a directory`,
    );
    await expect(start("pvbr0", join(dir, "x.pcap"), { count: 0 })).rejects.toThrow(
      /--count must be a whole number/,
    );
  });

  it("lists a domain's vif with xl's columns and netback's counters, and the bridges", async () => {
    const { control } = setup();
    const rows = (await control.handle(
      { id: 1, op: "network-list", domain: "one" },
      new EventEmitter(),
    )) as NetworkDeviceRow[];
    expect(rows).toEqual([
      {
        idx: 0,
        backendId: 0,
        mac: "00:16:3e:00:00:01",
        handle: 0,
        state: 4,
        backendState: 4,
        eventChannel: 9,
        txRingRef: 12,
        rxRingRef: 14,
        backendPath: "/local/domain/0/backend/vif/1/0",
        bridge: "pvbr0",
        mtu: 1500,
        link: "up",
        counters: { ...newCounters(), txFrames: 7, txBytes: 700 },
      },
    ]);
    expect(await control.handle({ id: 2, op: "network-list", domain: "two" }, new EventEmitter())).toEqual(
      [],
    );
    await expect(
      control.handle({ id: 3, op: "network-list", domain: "zed" }, new EventEmitter()),
    ).rejects.toThrow('network-list zed: no domain "zed"');
    expect(control.bridges()).toMatchObject([
      {
        name: "pvbr0",
        macs: 0,
        ports: [{ name: "vif1.0", kind: "vif", mac: "00:16:3e:00:00:01" }, { name: "vif2.0" }],
      },
    ]);
  });
});
