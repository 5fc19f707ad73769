/**
 * The guest's xenbus frontend bus (xenbus/frontend-devices.ts) against a real xenstored, the guest
 * on its own ring and dom0's toolstack played by writes as dom0: devices the toolstack adds after
 * boot are connected; a detach (backend Closing with online 0) closes and forgets one; a device in
 * use is refused with the reason in error/; and the races hotplug brings — a directory removed and
 * made again under the same id before the guest saw it go, a directory removed while its handshake
 * runs — end with one frontend per directory, each closed once.
 */
import { describe, expect, it } from "vitest";
import { Xenstored } from "../src/dom0/xenstored/index.ts";
import { writeDeviceDirs } from "../src/dom0/toolstack/store-layout.ts";
import { guestOnRing } from "./helpers/guest-on-ring.ts";
import { FrontendDevices, type Connected } from "../src/xenbus/frontend-devices.ts";

const DOMID = 7;
const FE = `/local/domain/${DOMID}/device/vif`;
const BE = `/local/domain/0/backend/vif/${DOMID}`;

/** What the fake driver did: each frontend it made, whether it was closed, and how often. */
interface Front {
  id: string;
  closes: number;
}

function stage(
  opts: {
    gate?: Promise<void>;
    closeGate?: Promise<void>;
    inUse?: (name: string) => string | undefined;
  } = {},
) {
  const xs = new Xenstored();
  const client = guestOnRing(xs, DOMID);

  const fronts: Front[] = [];
  /** What the driver did, in order: "connect <id>", "closed <id>". */
  const events: string[] = [];
  const connected: string[] = [];
  let onConnect = () => {};
  const bus = new FrontendDevices<Front>(client, DOMID, {
    kind: "vif",
    log: () => undefined,
    inUse: opts.inUse,
    async connect(dir): Promise<Connected<Front>> {
      const id = dir.split("/").pop()!;
      const front: Front = { id, closes: 0 };
      fronts.push(front);
      events.push(`connect ${id}`);
      const backend = (await client.tryRead(`${dir}/backend`)) ?? "";
      await opts.gate;
      // A directory removed meanwhile refuses the write (device/ is dom0's): the handshake goes on
      // here, to see the bus close what finishes after its directory went.
      await client.write(`${dir}/state`, "4").catch(() => undefined);
      connected.push(id);
      onConnect();
      return {
        name: `eth${id}`,
        device: front,
        backend,
        close: async () => {
          front.closes++;
          await opts.closeGate;
          await client.write(`${dir}/state`, "6").catch(() => undefined);
          events.push(`closed ${id}`);
        },
      };
    },
  });
  /** Resolves once the driver has connected `n` devices in all. */
  const connections = (n: number) =>
    new Promise<void>((done) => {
      onConnect = () => connected.length >= n && done();
      onConnect();
    });
  /** Writes vif `id`'s two directories, as network-attach does. */
  const attach = (id: number) =>
    writeDeviceDirs(
      xs,
      DOMID,
      { fe: `${FE}/${id}`, be: `${BE}/${id}` },
      [["state", "1"]],
      [
        ["online", "1"],
        ["state", "4"],
      ],
    );
  /** Resolves once `cond()` holds, looked at on every turn of the event loop (a hang guard bounds it). */
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setImmediate(r));
  };
  return { xs, bus, fronts, events, connections, attach, until };
}

describe("the xenbus frontend bus", { timeout: 30_000 }, () => {
  it("connects what is added after boot, and closes what a detach asks it to let go", async () => {
    const { xs, bus, fronts, connections, attach, until } = stage();
    await bus.probe();
    await bus.follow();
    attach(1);
    await connections(1);
    await until(() => bus.get("eth1") !== undefined);
    xs.write(`${BE}/1/online`, "0");
    xs.write(`${BE}/1/state`, "5");
    await until(() => fronts[0]!.closes === 1);
    expect(bus.list()).toEqual([]);
  });

  it("a device in use is refused, the reason where the toolstack reads it", async () => {
    const { xs, bus, fronts, connections, attach, until } = stage({ inUse: (n) => `${n} is busy` });
    attach(0);
    await bus.probe();
    await bus.follow();
    await connections(1);
    xs.write(`${BE}/0/online`, "0");
    xs.write(`${BE}/0/state`, "5");
    await until(() => xs.tryRead(`/local/domain/${DOMID}/error/device/vif/0/error`) !== undefined);
    expect(xs.tryRead(`/local/domain/${DOMID}/error/device/vif/0/error`)).toBe("eth0 is busy");
    expect(fronts[0]!.closes).toBe(0);
    expect(bus.get("eth0")).toBe(fronts[0]);
  });

  it("an id detached, then made again before the guest saw it go, is a new device", async () => {
    const { xs, bus, fronts, connections, attach, until } = stage();
    attach(0);
    await bus.probe();
    await bus.follow();
    xs.write(`${BE}/0/online`, "0");
    xs.write(`${BE}/0/state`, "5");
    await until(() => fronts[0]!.closes === 1);
    // Removed and made again in one go: the guest's scan finds id 0 there, as it was.
    xs.rm(`${FE}/0`);
    xs.rm(`${BE}/0`);
    attach(0);
    await connections(2);
    await until(() => bus.get("eth0") === fronts[1]);
    expect(fronts.map((f) => f.closes)).toEqual([1, 0]);
  });

  it("a directory removed while its handshake runs leaves no frontend behind", async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const { xs, bus, fronts, attach, connections, until } = stage({ gate });
    await bus.follow();
    attach(3);
    await until(() => fronts.length === 1); // its handshake has begun
    xs.rm(`${FE}/3`);
    xs.rm(`${BE}/3`);
    open(); // it ends after the removal, or before the guest saw it: closed either way
    await until(() => fronts[0]!.closes === 1);
    expect(bus.list()).toEqual([]);
    attach(3); // made again: a device of its own
    await connections(2);
    await until(() => bus.get("eth3") === fronts[1]);
    await bus.close();
    expect(fronts.map((f) => f.closes)).toEqual([1, 1]);
  });

  it("a new device on an id waits until the old one there has closed", async () => {
    let open!: () => void;
    const closeGate = new Promise<void>((r) => (open = r));
    const { xs, bus, fronts, events, attach, connections, until } = stage({ closeGate });
    attach(0);
    await bus.probe();
    await bus.follow();
    // Forced out, and at once made again: the old eth0's close is still running.
    xs.rm(`${FE}/0`);
    xs.rm(`${BE}/0`);
    await until(() => fronts[0]!.closes === 1);
    attach(0);
    open();
    await connections(2);
    await until(() => bus.get("eth0") === fronts[1]);
    // Its writes went before the new one began; the new one starts Initialising over them.
    expect(events).toEqual(["connect 0", "closed 0", "connect 0"]);
  });
});
