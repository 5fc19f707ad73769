/**
 * The kernel's network interfaces: every `device/vif/<handle>` the toolstack gives this domain, at
 * boot and after (`pvkit network-attach`), connected by netfront and kept by name (eth0, eth1, ...)
 * for programs (`k.net`) and the shell's ifconfig. The xenbus bus (xenbus/frontend-devices.ts)
 * does the following, detaching and closing; this file is what is particular to interfaces: the
 * queues and offloads the command line asks for. An interface is never refused to a detach (as
 * Linux's netfront): a stack on it sees its sends fail from then on.
 */
import { Netfront } from "@pvkit/drivers/net/front-xenbus";
import type { FrontendPlatform } from "@pvkit/drivers/frontend-platform";
import type { TxOffload } from "@pvkit/drivers/net/front-queue";
import type { XenStoreClient } from "../xenbus/client.ts";
import { FrontendDevices } from "../xenbus/frontend-devices.ts";

/** A network interface as programs see it: raw Ethernet frames in and out. */
export interface NetDevice {
  readonly name: string;
  /** "00:16:3e:xx:xx:xx". */
  readonly mac: string;
  readonly mtu: number;
  readonly queues: number;
  /**
   * Sends one Ethernet frame (destination, source, type, payload; no FCS), at most mtu + 18 bytes.
   * Resolves once the frame is on the ring; waits while the ring is full (backpressure). The frame
   * is copied before send returns (onto the ring, or into the queue for it): the caller may reuse
   * its array at once.
   * `offload` leaves work to dom0 (docs/network.md, "Offloads"): `{ csum: { start, offset } }` fills
   * in the L4 checksum, `{ tso: { mss, hdrLen } }` cuts a TCP/IPv4 frame of up to 64 KiB into
   * segments of `mss` payload bytes.
   */
  send(frame: Uint8Array, offload?: TxOffload): Promise<void>;
  /**
   * Calls `fn` with every frame received (one receiver; a new one replaces the old) and what dom0
   * found of its checksums (VMXNET_RXC_* bits: VMXNET_RXC_IPC, the IPv4 header's is right;
   * VMXNET_RXC_TUC, the TCP or UDP checksum is right), so the IP stack need not sum it again.
   * With large receive (on unless `net.lro=0`) a TCP frame a peer sent with TSO arrives whole, up
   * to 64 KiB: bigger than the MTU. Each frame is a fresh copy the receiver may keep.
   */
  onFrame(fn: (frame: Uint8Array, rxFlags: number) => void): void;
  /** Counters since the interface came up. */
  stats(): {
    txFrames: number;
    txBytes: number;
    txErrors: number;
    rxFrames: number;
    rxBytes: number;
    rxErrors: number;
  };
}

export interface NicDeps {
  domid: number;
  xs: XenStoreClient;
  /** The kernel as netfront sees it (kernel/frontends.ts). */
  platform: FrontendPlatform;
  log(line: string): void;
  /**
   * The kernel command line: `net.queues=N` asks each interface for N queues; `net.lro=0` turns
   * large receive off (frames arrive as the wire's segments, never bigger than the MTU).
   */
  cmdline?: string;
}

/** The interfaces, on the xenbus bus with netfront as its driver. */
export class Nics extends FrontendDevices<NetDevice> {
  constructor(d: NicDeps) {
    const cmdline = d.cmdline ?? "";
    const queues = Number(/(?:^|\s)net\.queues=(\d+)/.exec(cmdline)?.[1] ?? 1);
    // rxcsum: dom0 checks each frame's checksums as it copies it in (receive offload).
    // lro: a peer's TSO frame arrives whole, not as forty segments (`net.lro=0`: segments).
    const lro = !/(?:^|\s)net\.lro=0(?:\s|$)/.test(cmdline);
    super(d.xs, d.domid, {
      kind: "vif",
      log: d.log,
      async connect(dir) {
        const front = new Netfront(d.platform, dir);
        const info = await front.connect({ queues, rxcsum: true, lro });
        d.log(`${info.name}: ${info.mac}, mtu ${info.mtu}, ${info.queues} queue(s)`);
        return {
          name: info.name,
          device: {
            name: info.name,
            mac: info.mac,
            mtu: info.mtu,
            queues: info.queues,
            send: (frame, offload) => front.send(frame, offload),
            onFrame: (fn) => front.onFrame(fn),
            stats: () => front.stats,
          },
          backend: front.backendDir,
          close: (ms) => front.close(ms),
        };
      },
    });
  }
}
