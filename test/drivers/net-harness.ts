/**
 * netfront and netback in one process, for driver tests: guests on dom0's real learning bridge, each
 * guest with its own grant table and event channels (blk-harness.ts's Machine plays the
 * hypervisor), real 4 KiB SharedArrayBuffer pages, and the very driver code domains run.
 */
import { NetbackDevice, type NetbackPlatform } from "@pvkit/drivers/net/back";
import { Netfront } from "@pvkit/drivers/net/front-xenbus";
import { Bridge } from "@pvkit/guest-kernel/dom0/netback/bridge";
import { Machine, MiniStore } from "./blk-harness.ts";

export interface Guest {
  domid: number;
  mac: string;
  front: Netfront;
  back: NetbackDevice;
  machine: Machine;
  fe: string;
  be: string;
  /** Frames received, in order. */
  got: Uint8Array[];
  /** Flags of each received frame's last completion (VMXNET_RXC_*). */
  flags: number[];
}

/** One guest's vif in xenstore as the toolstack lays it out (vifs.ts), and both drivers on it. */
export async function plug(
  store: MiniStore,
  bridge: Bridge,
  domid: number,
  opts: { mtu?: number; queues?: number; rxcsum?: boolean; lro?: boolean } = {},
): Promise<Guest> {
  const machine = new Machine();
  const mac = `00:16:3e:00:00:${domid.toString(16).padStart(2, "0")}`;
  const fe = `/local/domain/${domid}/device/vif/0`;
  const be = `/local/domain/0/backend/vif/${domid}/0`;
  for (const [k, v] of [
    ["backend", be],
    ["backend-id", "0"],
    ["handle", "0"],
    ["mac", mac],
    ["state", "1"],
  ])
    await store.write(`${fe}/${k}`, v!);
  for (const [k, v] of [
    ["frontend", fe],
    ["frontend-id", String(domid)],
    ["handle", "0"],
    ["mac", mac],
    ["bridge", bridge.name],
    ["mtu", String(opts.mtu ?? 1500)],
    ["state", "1"],
  ])
    await store.write(`${be}/${k}`, v!);
  const { openStore: _unused, ...platform } = machine.back(store);
  const back = new NetbackDevice({ ...platform, bridge: () => bridge } as NetbackPlatform, be, domid, 0);
  await back.start();
  const front = new Netfront(machine.front(store), fe);
  const g: Guest = { domid, mac, front, back, machine, fe, be, got: [], flags: [] };
  front.onFrame((f, flags) => {
    g.got.push(f);
    g.flags.push(flags);
  });
  await front.connect({ queues: opts.queues, rxcsum: opts.rxcsum, lro: opts.lro });
  return g;
}

/** `n` guests on one bridge. */
export async function lan(n: number, opts: Parameters<typeof plug>[3] = {}) {
  const store = new MiniStore();
  const bridge = new Bridge("pvbr0");
  const guests: Guest[] = [];
  for (let i = 0; i < n; i++) guests.push(await plug(store, bridge, i + 1, opts));
  return { store, bridge, guests };
}

/** Resolves once `cond` holds, checked after every turn of the event loop that ran driver code. */
export async function until(cond: () => boolean, what: string): Promise<void> {
  const guard = Date.now() + 30_000; // a hang guard only: the drivers answer in microtasks
  while (!cond()) {
    if (Date.now() > guard) throw new Error(`never: ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

export const macBytes = (m: string) => Uint8Array.from(m.split(":").map((h) => parseInt(h, 16)));
