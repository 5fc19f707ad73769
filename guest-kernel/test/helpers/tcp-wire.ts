/**
 * Two IPv4 stacks on one in-memory wire, for TCP tests on the host: each frame one stack sends
 * reaches the other a turn of the event loop later, TSO frames cut by the very function dom0's
 * netback uses (drivers/src/net/offload.ts), and an optional impairment drops, holds back
 * (reorders) or duplicates frames with a seeded generator, so a failure reproduces.
 */
import { rxChecksumFlags, segmentTcp } from "@pvkit/drivers/net/offload";
import * as L from "@pvkit/abi/layout";
import type { TxOffload } from "@pvkit/drivers/net/front-queue";
import type { NetDevice } from "../../src/kernel/program.ts";
import { IpStack } from "../../src/net/stack/stack.ts";
import { mulberry32 } from "../../src/dom0/netback/impairment.ts";

const RXC = {
  V4: L.VMXNET_RXC_V4,
  V6: L.VMXNET_RXC_V6,
  IPC: L.VMXNET_RXC_IPC,
  TCP: L.VMXNET_RXC_TCP,
  UDP: L.VMXNET_RXC_UDP,
  TUC: L.VMXNET_RXC_TUC,
  FRG: L.VMXNET_RXC_FRG,
  CNC: L.VMXNET_RXC_CNC,
};

export interface Impairment {
  loss?: number;
  reorder?: number;
  duplicate?: number;
  seed?: number;
}

export interface WireStats {
  frames: number;
  dropped: number;
  reordered: number;
  duplicated: number;
}

export function tcpWire(o: { mtu?: number; impair?: Impairment } = {}) {
  const mtu = o.mtu ?? 1500;
  const random = mulberry32(o.impair?.seed ?? 1); // the bridge's own generator
  const stats: WireStats = { frames: 0, dropped: 0, reordered: 0, duplicated: 0 };
  const receivers: ((f: Uint8Array, rxFlags: number) => void)[] = [];
  let held: { to: number; frame: Uint8Array } | undefined;
  /** Frames in flight, delivered in one batch per turn (as a ring's worth per event would be). */
  let queue: { to: number; frame: Uint8Array }[] = [];
  let scheduled = false;
  let carry = true;

  const flush = () => {
    scheduled = false;
    const batch = queue;
    queue = [];
    // Each frame comes with the checksum verdict netback gives a guest that asked for it.
    for (const { to, frame } of batch) receivers[to]!(frame, rxChecksumFlags(frame, RXC));
  };
  const put = (to: number, frame: Uint8Array) => {
    queue.push({ to, frame });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  const transmit = (to: number, frame: Uint8Array) => {
    stats.frames++;
    if (!carry) return;
    const i = o.impair;
    if (i?.loss && random() < i.loss) return void stats.dropped++;
    if (i?.duplicate && random() < i.duplicate) {
      stats.duplicated++;
      put(to, frame.slice());
    }
    if (i?.reorder && !held && random() < i.reorder) {
      stats.reordered++;
      held = { to, frame };
      return;
    }
    put(to, frame);
    if (held) {
      put(held.to, held.frame);
      held = undefined;
    }
  };

  const device = (index: number, mac: string): NetDevice => ({
    name: "eth0",
    mac,
    mtu,
    queues: 1,
    async send(frame: Uint8Array, offload?: TxOffload) {
      const to = 1 - index;
      if (offload && "tso" in offload) {
        const parts = segmentTcp(frame.slice(), offload.tso.hdrLen, offload.tso.mss, mtu + 18);
        if (typeof parts === "string") throw new Error(parts);
        for (const p of parts) transmit(to, p);
      } else transmit(to, frame.slice());
    },
    onFrame: (fn) => void (receivers[index] = fn),
    stats: () => ({ txFrames: 0, txBytes: 0, txErrors: 0, rxFrames: 0, rxBytes: 0, rxErrors: 0 }),
  });

  const now = () => performance.now();
  const a = new IpStack(device(0, "00:16:3e:00:00:01"), { address: "10.0.0.1", now });
  const b = new IpStack(device(1, "00:16:3e:00:00:02"), { address: "10.0.0.2", now });
  return {
    a,
    b,
    stats,
    /** Cuts the wire (false) or mends it (true). */
    carry: (on: boolean) => void (carry = on),
    /** Sends a raw frame to stack `to` (0: a, 1: b), as an attacker on the wire would. */
    inject: (to: number, frame: Uint8Array) => put(to, frame),
    close() {
      a.close();
      b.close();
    },
  };
}
