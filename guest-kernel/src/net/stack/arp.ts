/**
 * ARP (RFC 826) for IPv4 over Ethernet: learning which MAC holds an IPv4 address on our segment.
 *
 * The packet (28 bytes after the Ethernet header): hardware type 1, protocol type 0x0800, lengths 6
 * and 4, the operation (1 request, 2 reply), then sender MAC and IP, target MAC and IP.
 *
 * - **Cache.** Entries live CACHE_MS after they were last confirmed and are looked up lazily (an
 *   expired entry is gone the next time it is asked for), at most MAX_ENTRIES of them.
 * - **Answering.** A request whose target is our address is answered, and its sender learned (RFC
 *   826's "merge": we will surely talk back). A packet from a sender we already know refreshes it.
 * - **Resolving.** A datagram for an unknown neighbour waits in a short queue for that address while
 *   we broadcast up to MAX_TRIES requests RETRY_MS apart; the reply sends the queue, silence drops it
 *   ("arp.unresolved"). Queues and the number of addresses being resolved are bounded, so a program
 *   sending to a thousand absent hosts costs a bounded amount of memory.
 * - **Gratuitous ARP** at start: a request for our own address, sender = target, so neighbours that
 *   cached an older MAC for it update, and a host already using the address shows itself.
 */
import { BROADCAST_MAC, ETH_P_ARP, ETH_P_IP, buildEthernet, formatMac, sameMac } from "./ethernet.ts";
import type { TxOffload } from "@pvkit/drivers/net/front-queue";
import { formatIp, ipNumber } from "./ipv4.ts";

export const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
export const CACHE_MS = 60_000;
export const RETRY_MS = 1000;
export const MAX_TRIES = 3;
/**
 * Datagrams held for one neighbour while its address resolves: enough for a burst of connections
 * opened at once (a hundred SYNs) without holding much memory, as Linux bounds it by bytes
 * (unres_qlen_bytes).
 */
export const MAX_QUEUED = 256;
export const MAX_QUEUED_BYTES = 256 * 1024;
export const MAX_PENDING = 64;
export const MAX_ENTRIES = 256;

export interface ArpPacket {
  op: number;
  senderMac: Uint8Array;
  senderIp: Uint8Array;
  targetMac: Uint8Array;
  targetIp: Uint8Array;
}

/** An ARP packet for Ethernet/IPv4, or undefined when it is anything else. */
export function parseArp(data: Uint8Array): ArpPacket | undefined {
  if (data.length < ARP_LEN) return undefined;
  const u16 = (o: number) => (data[o]! << 8) | data[o + 1]!;
  if (u16(0) !== 1 || u16(2) !== ETH_P_IP || data[4] !== 6 || data[5] !== 4) return undefined;
  return {
    op: u16(6),
    senderMac: data.slice(8, 14),
    senderIp: data.slice(14, 18),
    targetMac: data.slice(18, 24),
    targetIp: data.slice(24, 28),
  };
}

/** A whole Ethernet frame holding an ARP request (to broadcast) or reply (to `targetMac`). */
export function buildArp(
  op: number,
  senderMac: Uint8Array,
  senderIp: Uint8Array,
  targetMac: Uint8Array,
  targetIp: Uint8Array,
): Uint8Array {
  const a = new Uint8Array(ARP_LEN);
  a[1] = 1; // Ethernet
  a[2] = ETH_P_IP >> 8;
  a[3] = ETH_P_IP & 0xff;
  a[4] = 6;
  a[5] = 4;
  a[7] = op;
  a.set(senderMac, 8);
  a.set(senderIp, 14);
  a.set(targetMac, 18);
  a.set(targetIp, 24);
  return buildEthernet(op === ARP_REQUEST ? BROADCAST_MAC : targetMac, senderMac, ETH_P_ARP, a);
}

export interface ArpDeps {
  mac: Uint8Array;
  ip: Uint8Array;
  /** Puts a whole frame on the wire, with what dom0 should finish for it (TSO). */
  sendFrame(frame: Uint8Array, offload?: TxOffload): void;
  now(): number;
  /** Runs `fn` after `ms`; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
  /** Counts traffic ("arp.replies-sent"). */
  count(what: string): void;
  /** Counts packets dropped, by reason ("arp.unresolved"). */
  drop(reason: string, n?: number): void;
}

export interface ArpEntry {
  ip: string;
  mac: string;
  /** Milliseconds until it must be confirmed again. */
  expiresInMs: number;
}

interface Queued {
  datagram: Uint8Array;
  offload?: TxOffload;
}

interface Pending {
  ip: Uint8Array;
  queue: Queued[];
  bytes: number;
  tries: number;
  cancel: () => void;
}

export class Arp {
  private readonly table = new Map<number, { ip: Uint8Array; mac: Uint8Array; expires: number }>();
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly d: ArpDeps) {}

  /** The MAC cached for `ip`, if it has not expired. */
  lookup(ip: Uint8Array): Uint8Array | undefined {
    const key = ipNumber(ip);
    const e = this.table.get(key);
    if (e && e.expires <= this.d.now()) this.table.delete(key);
    return e && e.expires > this.d.now() ? e.mac : undefined;
  }

  /** Sends IPv4 `datagram` to neighbour `ip`, resolving its MAC first when it is not cached. */
  sendIp(ip: Uint8Array, datagram: Uint8Array, offload?: TxOffload): void {
    const mac = this.lookup(ip);
    if (mac) return this.d.sendFrame(buildEthernet(mac, this.d.mac, ETH_P_IP, datagram), offload);
    const key = ipNumber(ip);
    const p = this.pending.get(key);
    if (p) {
      if (p.queue.length >= MAX_QUEUED || p.bytes + datagram.length > MAX_QUEUED_BYTES)
        return this.d.drop("arp.queue-full");
      p.queue.push({ datagram, offload });
      p.bytes += datagram.length;
      return;
    }
    if (this.pending.size >= MAX_PENDING) return this.d.drop("arp.too-many-pending");
    const fresh: Pending = {
      ip: ip.slice(0, 4),
      queue: [{ datagram, offload }],
      bytes: datagram.length,
      tries: 0,
      cancel: () => {},
    };
    this.pending.set(key, fresh);
    this.ask(key, fresh);
  }

  /** One request for `p.ip`, and the timer that retries or gives up. */
  private ask(key: number, p: Pending): void {
    p.tries++;
    this.d.count("arp.requests-sent");
    this.d.sendFrame(buildArp(ARP_REQUEST, this.d.mac, this.d.ip, new Uint8Array(6), p.ip));
    p.cancel = this.d.setTimer(() => {
      if (this.pending.get(key) !== p) return;
      if (p.tries < MAX_TRIES) return this.ask(key, p);
      this.pending.delete(key);
      this.d.drop("arp.unresolved", p.queue.length);
    }, RETRY_MS);
  }

  /**
   * The neighbour at `ip` is alive: a transport saw it make progress (TCP's ACKs), which is as good
   * as an ARP reply (Linux's neighbour confirmation), so a long transfer does not stall every
   * CACHE_MS to ask again.
   */
  confirm(ip: Uint8Array): void {
    const e = this.table.get(ipNumber(ip));
    if (e) e.expires = this.d.now() + CACHE_MS;
  }

  /** Announces our address (gratuitous ARP). */
  announce(): void {
    this.d.sendFrame(buildArp(ARP_REQUEST, this.d.mac, this.d.ip, new Uint8Array(6), this.d.ip));
  }

  /** An ARP packet from the wire (the Ethernet payload). */
  input(data: Uint8Array): void {
    const a = parseArp(data);
    if (!a || (a.op !== ARP_REQUEST && a.op !== ARP_REPLY)) return this.d.drop("arp.malformed");
    if (a.senderMac[0]! & 1) return this.d.drop("arp.bad-sender"); // a group MAC owns no address
    const sender = ipNumber(a.senderIp);
    if (sender === ipNumber(this.d.ip)) {
      // Someone else claims our address (or our own announcement came back around).
      if (!sameMac(a.senderMac, this.d.mac)) this.d.drop("arp.address-conflict");
      return;
    }
    const forUs = ipNumber(a.targetIp) === ipNumber(this.d.ip);
    // 0.0.0.0 is a probe (RFC 5227): nothing to learn. Otherwise refresh what we know, and learn
    // the sender when it is talking to us.
    if (sender !== 0 && (forUs || this.table.has(sender))) this.learn(a.senderIp, a.senderMac);
    if (!forUs) return;
    if (a.op === ARP_REQUEST) {
      this.d.count("arp.replies-sent");
      this.d.sendFrame(buildArp(ARP_REPLY, this.d.mac, this.d.ip, a.senderMac, a.senderIp));
    }
  }

  private learn(ip: Uint8Array, mac: Uint8Array): void {
    const key = ipNumber(ip);
    if (!this.table.has(key) && this.table.size >= MAX_ENTRIES) {
      // Full: make room by forgetting the entry closest to expiry.
      let oldest: number | undefined;
      let when = Infinity;
      for (const [k, e] of this.table) if (e.expires < when) [oldest, when] = [k, e.expires];
      if (oldest !== undefined) this.table.delete(oldest);
    }
    this.table.set(key, { ip: ip.slice(0, 4), mac: mac.slice(0, 6), expires: this.d.now() + CACHE_MS });
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    p.cancel();
    for (const q of p.queue)
      this.d.sendFrame(buildEthernet(mac, this.d.mac, ETH_P_IP, q.datagram), q.offload);
  }

  entries(): ArpEntry[] {
    const now = this.d.now();
    return [...this.table.values()]
      .filter((e) => e.expires > now)
      .sort((a, b) => ipNumber(a.ip) - ipNumber(b.ip))
      .map((e) => ({ ip: formatIp(e.ip), mac: formatMac(e.mac), expiresInMs: e.expires - now }));
  }

  /** Stops the retry timers (the stack is going away). */
  close(): void {
    for (const p of this.pending.values()) p.cancel();
    this.pending.clear();
  }
}
