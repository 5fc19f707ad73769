/**
 * A bridge's uplink to the host's own network over VXLAN: a port of the bridge whose other side is
 * a UDP socket in dom0. Frames the bridge hands it go out as VXLAN datagrams to the remote end (a
 * Linux `vxlan` link, or another pvkit host's uplink); datagrams from the remote's address carrying
 * our VNI come in as frames from this port, so the bridge learns the MACs behind it like any other.
 * Datagrams from anyone else, or for another VNI, are dropped and counted as errors: the uplink
 * must not let the whole network inject frames into the guests' segment.
 */
import { createSocket, type Socket } from "node:dgram";
import type { NetPort, NetSwitch, PortCounters } from "@pvkit/drivers/net/port";
import { newCounters } from "@pvkit/drivers/net/port";
import type { VxlanSpec } from "@pvkit/abi/toolstack-protocol";
import { vxlanDecap, vxlanEncap } from "./vxlan.ts";

/** Why a socket call failed, in words (a user never reads a raw errno). */
function netReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const words: Record<string, string> = {
    EADDRINUSE: "the port is already in use",
    EACCES: "permission denied",
    EADDRNOTAVAIL: "the address is not available here",
    ENETUNREACH: "the network is unreachable",
  };
  return (code && words[code]) ?? (e instanceof Error ? e.message : String(e));
}

export class VxlanUplink implements NetPort {
  readonly counters: PortCounters = newCounters();
  readonly domid = 0;
  /** An uplink stands for many MACs, none its own. */
  readonly mac = new Uint8Array(6);
  readonly mtu = 1500;
  private sock: Socket | undefined;
  private plugged: NetSwitch | undefined;

  constructor(readonly spec: VxlanSpec) {}

  get name(): string {
    return `vxlan${this.spec.vni}`;
  }

  get remote(): string {
    const ip = this.spec.remoteIp.includes(":") ? `[${this.spec.remoteIp}]` : this.spec.remoteIp;
    return `${ip}:${this.spec.remotePort}`;
  }

  /** Binds the local UDP port and plugs into `bridge`; throws a one-line reason when it cannot. */
  async start(bridge: NetSwitch): Promise<void> {
    const v6 = this.spec.remoteIp.includes(":");
    const sock = createSocket(v6 ? "udp6" : "udp4");
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(this.spec.localPort, () => {
        sock.off("error", reject);
        resolve();
      });
    }).catch((e: unknown) => {
      sock.close();
      throw new Error(`cannot listen on UDP port ${this.spec.localPort}: ${netReason(e)}`);
    });
    sock.on("error", () => undefined); // a send's failure is counted where it happens
    sock.on("message", (msg, from) => this.receive(msg, from.address));
    this.sock = sock;
    this.plugged = bridge;
    bridge.attach(this);
  }

  /** The bridge hands us a frame: off it goes to the remote end. */
  send(frame: Uint8Array): boolean {
    if (!this.sock) {
      this.counters.rxDropped++;
      return false;
    }
    this.counters.rxFrames++;
    this.counters.rxBytes += frame.length;
    this.sock.send(vxlanEncap(this.spec.vni, frame), this.spec.remotePort, this.spec.remoteIp, (e) => {
      if (e) this.counters.rxDropped++;
    });
    return true;
  }

  close(): void {
    this.plugged?.detach(this);
    this.plugged = undefined;
    this.sock?.close();
    this.sock = undefined;
  }

  private receive(msg: Buffer, address: string): void {
    if (address !== this.spec.remoteIp && address !== `::ffff:${this.spec.remoteIp}`) {
      this.counters.txErrors++;
      return;
    }
    const d = vxlanDecap(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
    if ("error" in d || d.vni !== this.spec.vni) {
      this.counters.txErrors++;
      return;
    }
    this.counters.txFrames++;
    this.counters.txBytes += d.frame.length;
    this.plugged?.input(this, d.frame);
  }
}
