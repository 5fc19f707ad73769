/**
 * A learning Ethernet switch, one per bridge name (`bridge=pvbr0` in a vif spec), as Linux's bridge
 * in a Xen dom0: it learns which port each source MAC lives behind, sends a unicast frame to that
 * port only, and floods broadcast, multicast and unknown destinations to every other port. Entries
 * age out after `ageingMs` without traffic (300 s, the 802.1D default), so a guest that moved is
 * found again. Taps (packet capture) see every frame that enters the bridge; port taps see the
 * frames one port sends into the bridge and the frames the bridge hands that port.
 *
 * For tests a bridge can be impaired (impairment.ts): frames it hands to ports are then dropped,
 * reordered or duplicated at random. Taps see frames as switched, before the impairment.
 */
import type { ImpairmentSettings } from "@pvkit/abi/toolstack-protocol";
import type { Gso, NetPort, NetSwitch } from "@pvkit/drivers/net/port";
import { segmentTcp } from "@pvkit/drivers/net/offload";
import {
  Impairment,
  isNoImpairment,
  realTimer,
  type HoldTimer,
  type ImpairmentCounters,
} from "./impairment.ts";

export const AGEING_MS = 300_000;

interface Entry {
  port: NetPort;
  seen: number;
}

export interface BridgeStats extends ImpairmentCounters {
  frames: number;
  flooded: number;
  /** Frames whose destination was the port they came from (dropped, as a bridge does). */
  hairpin: number;
}

/** Sees a frame: `from` the port it entered by. The frame is only valid during the call. */
export type Tap = (frame: Uint8Array, from: NetPort) => void;

export class Bridge implements NetSwitch {
  readonly ports = new Set<NetPort>();
  readonly stats: BridgeStats = {
    frames: 0,
    flooded: 0,
    hairpin: 0,
    dropped: 0,
    reordered: 0,
    duplicated: 0,
  };
  private readonly fdb = new Map<number, Entry>();
  private readonly taps = new Set<Tap>();
  /** Per-port taps: a capture on one domain's vifs. */
  private readonly portTaps = new Map<NetPort, Set<Tap>>();
  /** Set only while a test impairs the bridge: unset, delivery costs one check of it. */
  private impairment: Impairment | undefined;

  constructor(
    readonly name: string,
    private readonly now: () => number = Date.now,
    private readonly ageingMs = AGEING_MS,
    /** The timer a frame held back for reordering waits on. */
    private readonly holdTimer: HoldTimer = realTimer,
  ) {}

  /**
   * Impairs the frames this bridge hands to ports (all probabilities 0, or undefined: none). The
   * generator starts afresh from the seed. Frames held back by an earlier setting go out first.
   */
  impair(settings: ImpairmentSettings | undefined): void {
    this.impairment?.flush();
    this.impairment =
      settings && !isNoImpairment(settings)
        ? new Impairment({ ...settings }, this.stats, this.holdTimer)
        : undefined;
  }

  /** The impairment in force, if any. */
  get impaired(): Readonly<ImpairmentSettings> | undefined {
    return this.impairment?.settings;
  }

  attach(port: NetPort): void {
    this.ports.add(port);
  }

  detach(port: NetPort): void {
    this.ports.delete(port);
    this.impairment?.forget(port);
    for (const [mac, e] of this.fdb) if (e.port === port) this.fdb.delete(mac);
  }

  /** Sees every frame entering the bridge (capture); returns the function that removes the tap. */
  tap(fn: Tap): () => void {
    this.taps.add(fn);
    return () => void this.taps.delete(fn);
  }

  /**
   * Sees every frame `port` sends into the bridge and every frame the bridge hands to `port`
   * (flooded or switched), once each, as tcpdump on a vif in dom0 would. Returns the remover.
   */
  tapPort(port: NetPort, fn: Tap): () => void {
    let set = this.portTaps.get(port);
    if (!set) this.portTaps.set(port, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.portTaps.delete(port);
    };
  }

  /** The MAC table: each learned address, its port and its age in ms (aged entries included). */
  table(): { mac: number; port: string; ageMs: number }[] {
    const t = this.now();
    return [...this.fdb].map(([mac, e]) => ({ mac, port: e.port.name, ageMs: t - e.seen }));
  }

  /** Entries not yet aged out: what `pvkit network-list` reports as the table's size. */
  liveEntries(): number {
    this.expire();
    return this.fdb.size;
  }

  /** Forgets entries older than the ageing time (lookups ignore them anyway; this frees them). */
  expire(): void {
    const t = this.now();
    for (const [mac, e] of this.fdb) if (t - e.seen > this.ageingMs) this.fdb.delete(mac);
  }

  /**
   * A frame a port's guest sent. `gso`: a TSO frame not yet cut (port.ts): it goes whole to a port
   * that takes whole frames and as segments to every other. Captures and impairment see what a
   * wire would carry, so while either is on the frame is cut first and its segments switched.
   */
  input(from: NetPort, frame: Uint8Array, gso?: Gso): void {
    if (gso && (this.taps.size > 0 || this.portTaps.size > 0 || this.impairment)) {
      for (const s of cutTso(frame, gso)) this.input(from, s);
      return;
    }
    if (frame.length < 14) return;
    this.stats.frames++;
    for (const tap of this.taps) tap(frame, from);
    const t = this.now();
    const src = macKey(frame, 6);
    if (!(frame[6]! & 1)) this.fdb.set(src, { port: from, seen: t }); // never learn a group address
    const dstIsGroup = (frame[0]! & 1) !== 0;
    const known = dstIsGroup ? undefined : this.fdb.get(macKey(frame, 0));
    if (this.portTaps.size > 0) this.tapPorts(frame, from, from);
    if (known && t - known.seen <= this.ageingMs && this.ports.has(known.port)) {
      if (known.port === from) this.stats.hairpin++;
      else this.deliver(known.port, from, frame, gso, undefined);
      return;
    }
    this.stats.flooded++;
    let segments: Uint8Array[] | undefined; // a TSO frame's, cut once for all who need them
    for (const port of this.ports)
      if (port !== from) segments = this.deliver(port, from, frame, gso, segments);
  }

  /**
   * Hands `frame` to `port`; returns the TSO frame's segments if they were cut (or given). A method,
   * not a closure made per frame: under tsx (esbuild's keepNames) a named closure costs a
   * defineProperty of its name, ~0.3 µs, which was 3 % of dom0's time in `pnpm bench tcp`'s HTTP.
   */
  private deliver(
    port: NetPort,
    from: NetPort,
    frame: Uint8Array,
    gso: Gso | undefined,
    segments: Uint8Array[] | undefined,
  ): Uint8Array[] | undefined {
    if (this.portTaps.size > 0) this.tapPorts(frame, from, port);
    if (gso && port.takesGso) port.send(frame, gso);
    else if (gso) for (const seg of (segments ??= cutTso(frame, gso))) port.send(seg);
    else if (this.impairment) this.impairment.send(port, frame);
    else port.send(frame);
    return segments;
  }

  private tapPorts(frame: Uint8Array, from: NetPort, at: NetPort): void {
    const set = this.portTaps.get(at);
    if (set) for (const tap of set) tap(frame, from);
  }
}

/** A TSO frame's segments (netback checked it with checkTso, so this cannot fail; if it did, none). */
function cutTso(frame: Uint8Array, gso: Gso): Uint8Array[] {
  const s = segmentTcp(frame, gso.hdrLen, gso.mss, gso.hdrLen + gso.mss);
  return typeof s === "string" ? [] : s;
}

/** A MAC address as a number (48 bits fit a double exactly). */
export function macKey(frame: Uint8Array, at: number): number {
  let k = 0;
  for (let i = 0; i < 6; i++) k = k * 256 + frame[at + i]!;
  return k;
}
