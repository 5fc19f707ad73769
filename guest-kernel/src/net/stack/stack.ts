/**
 * A small IPv4 host stack over one NetDevice: Ethernet demultiplexing, ARP, IPv4, ICMP echo and
 * port unreachable, and UDP sockets. Pure TypeScript over `k.net` raw frames; it runs in the guest.
 *
 * Receiving is one synchronous pass per frame (Ethernet -> ARP | IPv4 -> ICMP | UDP): each layer
 * checks what it was given and either hands the payload up or drops the frame and counts why, so
 * `stats().dropped` tells what the stack refused ("ip.bad-checksum": 2). Sending goes the other way
 * and meets ARP at the bottom, which may hold a datagram until the neighbour answers.
 *
 * Addressing is one interface, one address, one on-link subnet (a /24 unless the address says
 * "/N"), no gateway: a destination outside the subnet is refused with "network unreachable".
 *
 * Programs and the shell share one stack per interface: `startIp(k)` starts it on first use and
 * returns the same one afterwards (the device has one frame receiver, and two stacks on it would
 * take turns losing frames).
 */
import type { KernelHandle, NetDevice } from "../../kernel/program.ts";
import { Arp, type ArpEntry } from "./arp.ts";
import type { TxOffload } from "@pvkit/drivers/net/front-queue";
import { VMXNET_RXC_IPC, VMXNET_RXC_TUC } from "@pvkit/abi/layout";
import {
  BROADCAST_MAC,
  ETH_HLEN,
  ETH_P_ARP,
  ETH_ZLEN,
  ETH_P_IP,
  buildEthernet,
  parseEthernet,
  parseMac,
  sameMac,
} from "./ethernet.ts";
import {
  ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_PORT_UNREACH,
  buildEcho,
  buildUnreachable,
  parseIcmp,
} from "./icmp.ts";
import {
  DEFAULT_TTL,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IP_HLEN,
  buildIpv4,
  writeIpv4Header,
  formatIp,
  ipNumber,
  parseIp,
  parseIpv4,
  prefixMask,
  type Ipv4Header,
} from "./ipv4.ts";
import { UDP_HLEN, buildUdp, parseUdp } from "./udp.ts";
import { Tcp } from "./tcp.ts";
import { Reassembly } from "./ipv4-reassembly.ts";
import { tcpHeaderLength, writeTcp } from "./tcp-segment.ts";
import type {
  TcpConnectOptions,
  TcpConnectionInfo,
  TcpListenOptions,
  TcpServer,
  TcpSocket,
  PingOptions,
  PingResult,
  StackOptions,
  StackStats,
  UdpHandler,
  UdpSocket,
  UdpSource,
} from "./api.ts";

export type * from "./api.ts";
export { TcpError } from "./api.ts";

/** Receive offload: dom0 found the IPv4 header checksum and the TCP/UDP checksum right. */
const RX_VERIFIED = VMXNET_RXC_IPC | VMXNET_RXC_TUC;

/** ICMP errors we send per second at most (RFC 1812 4.3.2.8: rate-limit them). */
const ICMP_ERRORS_PER_SECOND = 100;
/** Ephemeral ports for sendTo without a bound socket (IANA's dynamic range). */
const EPHEMERAL_FIRST = 49152;

interface UdpBinding {
  handler: UdpHandler;
  unreachable: ((to: UdpSource, code: number) => void)[];
}

const defaultTimer = (fn: () => void, ms: number) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

function bump(map: Map<string, number>, key: string, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

const sorted = (m: Map<string, number>) => Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)));

export class IpStack {
  readonly address: string;
  readonly prefixLength: number;
  readonly device: string;
  private readonly ip: Uint8Array;
  private readonly mac: Uint8Array;
  private readonly mask: number;
  private readonly arpLayer: Arp;
  private readonly counters = new Map<string, number>();
  private readonly drops = new Map<string, number>();
  private readonly ports = new Map<number, UdpBinding>();
  private readonly pings = new Map<string, { data: Uint8Array; done(ttl: number): void }>();
  private readonly setTimer: (fn: () => void, ms: number) => () => void;
  private nextPingId = 1;
  private nextEphemeral = EPHEMERAL_FIRST;
  private errorWindow = { start: -Infinity, sent: 0 };
  private readonly tcpLayer: Tcp;
  private readonly reassembly: Reassembly;
  /** Where sendInPlace builds each frame: room for the largest TSO frame. */
  private readonly txFrame = new Uint8Array(ETH_HLEN + 0xffff);

  constructor(
    private readonly dev: NetDevice,
    private readonly opts: StackOptions,
  ) {
    const [addr, prefix] = opts.address.split("/");
    this.ip = parseIp(addr!);
    this.prefixLength = prefix === undefined ? 24 : Number(prefix);
    if (!Number.isInteger(this.prefixLength) || this.prefixLength < 1 || this.prefixLength > 30)
      throw new RangeError(`"${opts.address}": the prefix length must be 1..30`);
    this.address = addr!;
    this.device = dev.name;
    this.mac = parseMac(dev.mac);
    this.mask = prefixMask(this.prefixLength);
    this.setTimer = opts.setTimer ?? defaultTimer;
    this.arpLayer = new Arp({
      mac: this.mac,
      ip: this.ip,
      sendFrame: (f) => this.sendFrame(f),
      now: () => opts.now(),
      setTimer: this.setTimer,
      count: (what) => bump(this.counters, what),
      drop: (why, n) => bump(this.drops, why, n),
    });
    this.reassembly = new Reassembly({
      now: () => opts.now(),
      setTimer: this.setTimer,
      drop: (why, n) => bump(this.drops, why, n),
      count: (what) => bump(this.counters, what),
    });
    this.tcpLayer = new Tcp({
      ip: this.ip,
      mss: dev.mtu - IP_HLEN - 20,
      now: () => opts.now(),
      setTimer: this.setTimer,
      count: (what, n) => bump(this.counters, what, n),
      drop: (why, n) => bump(this.drops, why, n),
      sendSegment: (dst, length, fill, tso) =>
        this.sendInPlace(
          dst,
          IPPROTO_TCP,
          length,
          fill,
          tso && { tso: { mss: tso.mss, hdrLen: ETH_HLEN + IP_HLEN + tso.tcpHeaderLength } },
        ),
      writeHeader: (buf, at, dst, h, dataLen, sum) => writeTcp(buf, at, this.ip, dst, h, dataLen, sum),
      headerLength: tcpHeaderLength,
      confirm: (ip) => this.arpLayer.confirm(ip),
    });
    dev.onFrame((f, flags) => this.input(f, flags));
    this.arpLayer.announce();
  }

  stats(): StackStats {
    return { counters: sorted(this.counters), dropped: sorted(this.drops) };
  }

  arp(): ArpEntry[] {
    return this.arpLayer.entries();
  }

  // ---- receiving ----

  private drop(why: string): void {
    bump(this.drops, why);
  }

  /**
   * One frame from the device, with what dom0 checked of it (VMXNET_RXC_* bits): a TCP segment
   * whose checksum dom0 verified (IPC and TUC) is not summed again here.
   */
  input(frame: Uint8Array, rxFlags = 0): void {
    bump(this.counters, "eth.in");
    const eth = parseEthernet(frame);
    if (!eth) return this.drop("eth.truncated");
    // The bridge floods unknown unicast to every port: a frame for another MAC is not ours.
    if (!sameMac(eth.dst, this.mac) && !sameMac(eth.dst, BROADCAST_MAC)) return this.drop("eth.not-for-us");
    if (eth.type === ETH_P_ARP) return this.arpLayer.input(eth.payload);
    if (eth.type === ETH_P_IP) return this.ipInput(eth.payload, (rxFlags & RX_VERIFIED) === RX_VERIFIED);
    this.drop("eth.unknown-type");
  }

  private isBroadcast(n: number): boolean {
    return n === 0xffffffff || n === ((ipNumber(this.ip) & this.mask) | ~this.mask) >>> 0;
  }

  private ipInput(data: Uint8Array, verified: boolean): void {
    const header = parseIpv4(data);
    if (typeof header === "string") return this.drop(header);
    const dst = ipNumber(header.dst);
    const broadcast = this.isBroadcast(dst);
    if (dst !== ipNumber(this.ip) && !broadcast) return this.drop("ip.not-for-us");
    // A source that is a group or broadcast address cannot be answered (RFC 1122 3.2.1.3).
    const src = ipNumber(header.src);
    if (src >>> 28 >= 0xe || this.isBroadcast(src)) return this.drop("ip.bad-source");
    let h = header;
    if (h.mf || h.fragmentOffset !== 0) {
      // A piece of a datagram: held until the rest arrives (ipv4-reassembly.ts has the limits).
      const whole = this.reassembly.input(h);
      if (!whole) return;
      h = whole;
    }
    bump(this.counters, "ip.in");
    if (h.protocol === IPPROTO_ICMP) return this.icmpInput(h, broadcast);
    if (h.protocol === IPPROTO_UDP) return this.udpInput(h, broadcast);
    if (h.protocol === IPPROTO_TCP) {
      // TCP has no broadcast (RFC 1122 4.2.3.10): such a segment is dropped, never answered.
      if (broadcast) return this.drop("tcp.broadcast");
      // Dom0's verdict covers the frame as it came; a reassembled datagram was never one frame.
      return this.tcpLayer.input(h, verified && h === header);
    }
    this.drop("ip.unknown-protocol");
  }

  private icmpInput(h: Ipv4Header, broadcast: boolean): void {
    const m = parseIcmp(h.payload);
    if (typeof m === "string") return this.drop(m);
    if (m.type === ICMP_ECHO_REQUEST) {
      // Linux ignores broadcast pings by default (icmp_echo_ignore_broadcasts): a smurf amplifier
      // is a bad neighbour.
      if (broadcast) return this.drop("icmp.broadcast-echo");
      bump(this.counters, "icmp.echo-replies-sent");
      return this.sendIp(h.src, IPPROTO_ICMP, buildEcho(ICMP_ECHO_REPLY, m.id, m.seq, m.body));
    }
    if (m.type === ICMP_ECHO_REPLY) {
      const key = `${formatIp(h.src)}/${m.id}/${m.seq}`;
      const p = this.pings.get(key);
      if (!p) return this.drop("icmp.unmatched-reply");
      if (!sameBytes(p.data, m.body)) return this.drop("icmp.reply-altered");
      bump(this.counters, "icmp.echo-replies-received");
      this.pings.delete(key);
      return p.done(h.ttl);
    }
    if (m.type === ICMP_DEST_UNREACH) return this.unreachableInput(m.code, m.body);
    this.drop("icmp.unhandled-type");
  }

  /** A destination unreachable: tell the UDP socket that sent the datagram it quotes. */
  private unreachableInput(code: number, quoted: Uint8Array): void {
    const ihl = (quoted[0]! & 0x0f) * 4;
    if (quoted.length < IP_HLEN || quoted[0]! >> 4 !== 4 || ihl < IP_HLEN || quoted.length < ihl + UDP_HLEN)
      return this.drop("icmp.bad-quote");
    bump(this.counters, "icmp.unreachables-received");
    if (quoted[9] !== IPPROTO_UDP || ipNumber(quoted.subarray(12, 16)) !== ipNumber(this.ip)) return;
    const srcPort = (quoted[ihl]! << 8) | quoted[ihl + 1]!;
    const to = {
      address: formatIp(quoted.subarray(16, 20)),
      port: (quoted[ihl + 2]! << 8) | quoted[ihl + 3]!,
    };
    for (const fn of this.ports.get(srcPort)?.unreachable ?? []) fn(to, code);
  }

  private udpInput(h: Ipv4Header, broadcast: boolean): void {
    const u = parseUdp(h.payload, h.src, h.dst);
    if (typeof u === "string") return this.drop(u);
    bump(this.counters, "udp.in");
    const b = this.ports.get(u.dstPort);
    if (!b) {
      this.drop("udp.no-port");
      // No error about a broadcast (RFC 1122 3.2.2): every host on the segment would answer.
      if (!broadcast) this.sendError(h, ICMP_PORT_UNREACH);
      return;
    }
    b.handler(u.data.slice(), { address: formatIp(h.src), port: u.srcPort });
  }

  private sendError(h: Ipv4Header, code: number): void {
    const now = this.opts.now();
    if (now - this.errorWindow.start >= 1000) this.errorWindow = { start: now, sent: 0 };
    if (this.errorWindow.sent >= ICMP_ERRORS_PER_SECOND) return this.drop("icmp.errors-rate-limited");
    this.errorWindow.sent++;
    bump(this.counters, "icmp.unreachables-sent");
    const datagram = new Uint8Array(h.header.length + h.payload.length);
    datagram.set(h.header);
    datagram.set(h.payload, h.header.length);
    this.sendIp(h.src, IPPROTO_ICMP, buildUnreachable(code, datagram, h.headerLength));
  }

  // ---- sending ----

  private sendFrame(frame: Uint8Array, offload?: TxOffload): void {
    bump(this.counters, "eth.out");
    this.dev.send(frame, offload).catch(() => this.drop("eth.send-failed"));
  }

  /** Throws when `dst` is outside our subnet: there is no router to hand it to. */
  private checkOnLink(dst: Uint8Array): void {
    if ((ipNumber(dst) & this.mask) >>> 0 !== (ipNumber(this.ip) & this.mask) >>> 0)
      throw new Error(
        `${formatIp(dst)}: network unreachable (no route outside ${this.address}/${this.prefixLength})`,
      );
  }

  /**
   * Sends a datagram whose `length`-byte payload `fill` writes straight into the frame (TCP's
   * path: its data is copied once, from the send buffer into the frame). With `offload` (TSO) the
   * datagram may exceed the MTU: dom0 cuts it.
   */
  private sendInPlace(
    dst: Uint8Array,
    protocol: number,
    length: number,
    fill: (buf: Uint8Array, at: number) => void,
    offload?: TxOffload,
  ): void {
    this.checkOnLink(dst);
    const total = IP_HLEN + length;
    if (!offload && total > this.dev.mtu)
      throw new RangeError(`${total} bytes do not fit the MTU (${this.dev.mtu})`);
    bump(this.counters, "ip.out");
    const mac = this.arpLayer.lookup(dst);
    if (!mac) {
      const d = new Uint8Array(total);
      writeIpv4Header(d, 0, this.ip, dst, protocol, total);
      fill(d, IP_HLEN);
      return this.arpLayer.sendIp(dst, d, offload);
    }
    // Built in the one reused array: the device copies a frame before send returns (NetDevice).
    // Every byte of the datagram is written below (the headers here, `length` bytes by `fill`);
    // only the padding up to the wire's minimum is cleared, so none of an earlier frame goes out.
    const n = Math.max(ETH_ZLEN, ETH_HLEN + total);
    const frame = n <= this.txFrame.length ? this.txFrame.subarray(0, n) : new Uint8Array(n);
    frame.fill(0, ETH_HLEN + total);
    frame.set(mac, 0);
    frame.set(this.mac, 6);
    frame[12] = ETH_P_IP >> 8;
    frame[13] = ETH_P_IP & 0xff;
    writeIpv4Header(frame, ETH_HLEN, this.ip, dst, protocol, total);
    fill(frame, ETH_HLEN + IP_HLEN);
    this.sendFrame(frame, offload);
  }

  /** Sends `payload` as `protocol` to `dst`; throws when the destination is off-link or it is too big. */
  private sendIp(dst: Uint8Array, protocol: number, payload: Uint8Array, ttl = DEFAULT_TTL): void {
    const n = ipNumber(dst);
    const datagram = buildIpv4(this.ip, dst, protocol, payload, ttl);
    if (datagram.length > this.dev.mtu)
      throw new RangeError(
        `${datagram.length} bytes do not fit the MTU (${this.dev.mtu}) and we do not fragment`,
      );
    bump(this.counters, "ip.out");
    if (this.isBroadcast(n))
      return this.sendFrame(buildEthernet(BROADCAST_MAC, this.mac, ETH_P_IP, datagram));
    this.checkOnLink(dst);
    this.arpLayer.sendIp(dst, datagram);
  }

  /** Echo requests to `address`, one at a time; resolves with what came back. */
  async ping(address: string, o: PingOptions = {}): Promise<PingResult> {
    const dst = parseIp(address);
    const count = o.count ?? 4;
    const id = this.nextPingId++ & 0xffff;
    const data = new Uint8Array(o.size ?? 56).map((_, i) => (i + 8) & 0xff); // ping's pattern
    const result: PingResult = { address, sent: 0, received: 0, rttMs: [] };
    for (let seq = 1; seq <= count; seq++) {
      const key = `${formatIp(dst)}/${id}/${seq}`;
      const start = this.opts.now();
      const reply = await new Promise<{ rtt: number; ttl: number } | undefined>((resolve) => {
        const cancel = this.setTimer(() => {
          this.pings.delete(key);
          resolve(undefined);
        }, o.timeoutMs ?? 1000);
        this.pings.set(key, {
          data,
          done: (ttl) => {
            cancel();
            resolve({ rtt: this.opts.now() - start, ttl });
          },
        });
        try {
          this.sendIp(dst, IPPROTO_ICMP, buildEcho(ICMP_ECHO_REQUEST, id, seq, data), o.ttl);
        } catch (e) {
          cancel();
          this.pings.delete(key);
          throw e;
        }
      });
      result.sent++;
      if (reply) result.received++;
      result.rttMs.push(reply?.rtt);
      o.onReply?.(seq, reply?.rtt, reply?.ttl);
      if (seq < count && (o.intervalMs ?? 1000) > 0)
        await new Promise<void>((r) => this.setTimer(r, o.intervalMs ?? 1000));
    }
    return result;
  }

  readonly udp = {
    /** Receives datagrams for `port` (0: any free ephemeral port) with `handler`. */
    bind: (port: number, handler: UdpHandler): UdpSocket => {
      if (port === 0) port = this.freePort();
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new RangeError(`port ${port} is not 1..65535`);
      if (this.ports.has(port)) throw new Error(`port ${port} is already bound`);
      const b: UdpBinding = { handler, unreachable: [] };
      this.ports.set(port, b);
      return {
        port,
        sendTo: (address, to, data) => this.sendUdp(port, address, to, data),
        onUnreachable: (fn) => void b.unreachable.push(fn),
        close: () => void (this.ports.get(port) === b && this.ports.delete(port)),
      };
    },
    /** One datagram from an unbound ephemeral port (a reply to it is answered port unreachable). */
    sendTo: (address: string, port: number, data: Uint8Array): void =>
      this.sendUdp(this.freePort(), address, port, data),
  };

  readonly tcp = {
    /** Opens a connection; resolves once established (TcpError ECONNREFUSED, ETIMEDOUT otherwise). */
    connect: (address: string, port: number, o?: TcpConnectOptions): Promise<TcpSocket> =>
      this.tcpLayer.connect(address, port, o),
    /** Listens on `port` (EADDRINUSE when something already does). */
    listen: (port: number, o?: TcpListenOptions): TcpServer => this.tcpLayer.listen(port, o),
    /** Every connection and listener, as netstat lists them. */
    connections: (): TcpConnectionInfo[] => this.tcpLayer.connections(),
  };

  private sendUdp(srcPort: number, address: string, port: number, data: Uint8Array): void {
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new RangeError(`port ${port} is not 1..65535`);
    const dst = parseIp(address);
    bump(this.counters, "udp.out");
    this.sendIp(dst, IPPROTO_UDP, buildUdp(this.ip, dst, srcPort, port, data));
  }

  private freePort(): number {
    for (let i = 0; i < 65536 - EPHEMERAL_FIRST; i++) {
      const p = this.nextEphemeral;
      this.nextEphemeral = p === 65535 ? EPHEMERAL_FIRST : p + 1;
      if (!this.ports.has(p)) return p;
    }
    throw new Error("no free UDP port");
  }

  /** Stops the timers; the device keeps delivering frames to nobody. */
  close(): void {
    this.tcpLayer.close();
    this.reassembly.close();
    this.dev.onFrame(() => {});
    this.arpLayer.close();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The address the toolstack gave the vif behind `dev`: `ip=` in the domain's config lands in the
 * backend's directory, which the frontend's `backend` key names and this domain may read. xl
 * allows several addresses separated by spaces; the first is ours.
 */
export async function vifAddress(k: KernelHandle, dev: NetDevice): Promise<string | undefined> {
  const ids = await k.xenstore.ls("device/vif").catch(() => [] as string[]);
  for (const id of ids) {
    if ((await k.xenstore.tryRead(`device/vif/${id}/mac`))?.toLowerCase() !== dev.mac.toLowerCase()) continue;
    const backend = await k.xenstore.tryRead(`device/vif/${id}/backend`);
    const ip = backend ? await k.xenstore.tryRead(`${backend}/ip`).catch(() => undefined) : undefined;
    return ip?.trim().split(/\s+/)[0] || undefined;
  }
  return undefined;
}

/**
 * Timers on the kernel's clock (k.time.sleep), not the realm's setTimeout: the kernel idles its
 * vCPU until the next event or kernel timer, and only its own timers are sure to wake it.
 */
function kernelTimer(k: KernelHandle): (fn: () => void, ms: number) => () => void {
  return (fn, ms) => {
    let live = true;
    void k.time.sleep(ms).then(() => live && fn());
    return () => void (live = false);
  };
}

const started = new WeakMap<NetDevice, Promise<IpStack>>();

/**
 * The IPv4 stack on interface `dev` (eth0), started on the first call with the vif's `ip=`
 * address and shared by every later caller. Rejects when there is no such interface or it has no
 * address.
 */
export function startIp(k: KernelHandle, dev = "eth0"): Promise<IpStack> {
  const nic = k.net.get(dev);
  let s = started.get(nic);
  if (!s) {
    s = (async () => {
      const address = await vifAddress(k, nic);
      if (!address) throw new Error(`${dev}: no IPv4 address (give the vif ip=... in the domain's config)`);
      return new IpStack(nic, { address, now: () => k.time.uptimeMs(), setTimer: kernelTimer(k) });
    })();
    started.set(nic, s);
    s.catch(() => started.delete(nic));
  }
  return s;
}
