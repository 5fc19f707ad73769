/**
 * The VXLAN uplink with real UDP sockets on the loopback: the header is RFC 7348's byte for byte, a
 * datagram from the remote carrying our VNI enters the bridge as a frame from the uplink (and the
 * bridge learns the MAC behind it), a frame the bridge floods leaves as a datagram to the remote,
 * and datagrams from another address, for another VNI, without the I flag or too short are
 * dropped and counted. Specs are checked before anything binds.
 */
import { createSocket, type Socket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { newCounters, type NetPort } from "@pvkit/drivers/net/port";
import { parseVxlanSpec } from "@pvkit/abi/toolstack-protocol";
import { Bridge } from "../src/dom0/netback/bridge.ts";
import { VxlanUplink } from "../src/dom0/netback/uplink.ts";
import { vxlanDecap, vxlanEncap } from "../src/dom0/netback/vxlan.ts";

class Guest implements NetPort {
  readonly counters = newCounters();
  readonly mtu = 1500;
  readonly name = "vif1.0";
  readonly domid = 1;
  readonly mac = Uint8Array.of(0x00, 0x16, 0x3e, 0, 0, 1);
  private waiters: ((f: Uint8Array) => void)[] = [];
  send(frame: Uint8Array): boolean {
    this.waiters.shift()?.(frame.slice());
    return true;
  }
  next(): Promise<Uint8Array> {
    return new Promise((r) => this.waiters.push(r));
  }
}

const HOST_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x99);

function frame(dst: Uint8Array, src: Uint8Array, tag: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f[14] = tag;
  return f;
}

async function udp(address: string): Promise<Socket> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  return s;
}

const open: { close(): void }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

describe("VXLAN encapsulation", () => {
  it("is the 8-byte RFC 7348 header: I flag, reserved zero, 24-bit VNI", () => {
    const d = vxlanEncap(0xabcdef, frame(HOST_MAC, HOST_MAC, 7));
    expect(Buffer.from(d.subarray(0, 8)).toString("hex")).toBe("08000000abcdef00");
    expect(d.length).toBe(68);
    expect(vxlanDecap(d)).toMatchObject({ vni: 0xabcdef });
    expect(vxlanDecap(d.subarray(0, 21))).toEqual({ error: "21-byte datagram is too short" });
    const noI = d.slice();
    noI[0] = 0;
    expect(vxlanDecap(noI)).toEqual({ error: "I flag clear (no valid VNI)" });
  });

  it("specs are checked field by field", () => {
    expect(parseVxlanSpec("vxlan:4789:127.0.0.1:4790:42")).toEqual({
      localPort: 4789,
      remoteIp: "127.0.0.1",
      remotePort: 4790,
      vni: 42,
    });
    expect(parseVxlanSpec("vxlan:1:[fd00::2]:2:0").remoteIp).toBe("fd00::2");
    expect(() => parseVxlanSpec("gre:1:2:3:4")).toThrow(/is not vxlan:<local-port>/);
    expect(() => parseVxlanSpec("vxlan:70000:127.0.0.1:1:1")).toThrow(/local port 70000 is not 1..65535/);
    expect(() => parseVxlanSpec("vxlan:1:127.0.0.1:1:16777216")).toThrow(/VNI 16777216 does not fit 24 bits/);
    expect(() => parseVxlanSpec("vxlan:1:300.0.0.1:1:1")).toThrow(/not an IPv4 address/);
  });
});

describe("the uplink", () => {
  async function setup() {
    const remote = await udp("127.0.0.1");
    open.push(remote);
    const bridge = new Bridge("pvbr0");
    const guest = new Guest();
    bridge.attach(guest);
    const probe = await udp("127.0.0.1"); // only to find a free port for the uplink
    const localPort = probe.address().port;
    probe.close();
    const up = new VxlanUplink({
      localPort,
      remoteIp: "127.0.0.1",
      remotePort: remote.address().port,
      vni: 42,
    });
    await up.start(bridge);
    open.push(up);
    const datagrams: Buffer[] = [];
    let waiter: (() => void) | undefined;
    remote.on("message", (m) => {
      datagrams.push(m);
      waiter?.();
    });
    const nextDatagram = async () => {
      while (datagrams.length === 0) await new Promise<void>((r) => (waiter = r));
      return datagrams.shift()!;
    };
    const toUplink = (bytes: Uint8Array, from = remote) =>
      new Promise<void>((r) => from.send(bytes, localPort, "127.0.0.1", () => r()));
    return { bridge, guest, up, remote, localPort, nextDatagram, toUplink };
  }

  it("carries frames both ways and the bridge learns the host's MAC behind it", async () => {
    const { bridge, guest, up, nextDatagram, toUplink } = await setup();
    const arriving = guest.next();
    await toUplink(vxlanEncap(42, frame(new Uint8Array(6).fill(0xff), HOST_MAC, 1)));
    expect((await arriving)[14]).toBe(1);
    expect(bridge.table()).toEqual([expect.objectContaining({ port: "vxlan42" })]);
    bridge.input(guest, frame(HOST_MAC, guest.mac, 2)); // switched to the uplink: learned
    const d = await nextDatagram();
    expect(d.subarray(0, 8).toString("hex")).toBe("0800000000002a00");
    expect(d[8 + 14]).toBe(2);
    expect(Buffer.from(d.subarray(8, 14)).equals(Buffer.from(HOST_MAC))).toBe(true);
    expect(up.counters).toMatchObject({ txFrames: 1, txBytes: 60, rxFrames: 1, rxBytes: 60, txErrors: 0 });
  });

  it("drops datagrams from elsewhere, for another VNI, without the I flag, or too short", async () => {
    const { guest, up, toUplink } = await setup();
    const stranger = await udp("127.0.0.2");
    open.push(stranger);
    const good = frame(guest.mac, HOST_MAC, 9);
    await toUplink(vxlanEncap(42, good), stranger);
    await toUplink(vxlanEncap(43, good));
    const noI = vxlanEncap(42, good);
    noI[0] = 0;
    await toUplink(noI);
    await toUplink(new Uint8Array(12));
    // A good one last: once it arrives, every earlier datagram has been judged (one socket, in order).
    const arriving = guest.next();
    await toUplink(vxlanEncap(42, frame(guest.mac, HOST_MAC, 10)));
    expect((await arriving)[14]).toBe(10);
    expect(up.counters).toMatchObject({ txFrames: 1, txErrors: 4 });
  });

  it("says in words when its port is taken", async () => {
    const taken = await udp("0.0.0.0");
    open.push(taken);
    const up = new VxlanUplink({
      localPort: taken.address().port,
      remoteIp: "127.0.0.1",
      remotePort: 1,
      vni: 1,
    });
    await expect(up.start(new Bridge("x"))).rejects.toThrow(
      `cannot listen on UDP port ${taken.address().port}: the port is already in use`,
    );
  });
});
