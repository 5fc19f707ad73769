/**
 * The control socket's network requests (abi/src/toolstack-protocol.ts, NetworkRequest), served
 * from dom0's netback: `network-list` (a domain's vifs laid out as `xl network-list` shows them,
 * or every bridge with its ports), packet capture to a pcap file, VXLAN uplinks, and a bridge's
 * impairment for tests (loss, reordering, duplication: impairment.ts).
 *
 * A capture belongs to the connection that started it: the CLI waits on it, stops it on Ctrl-C,
 * and if the CLI dies instead its connection closes and the capture stops the same way, with the
 * file flushed and closed.
 */
import { isAbsolute } from "node:path";
import {
  parseVxlanSpec,
  type BridgeRow,
  type CaptureStarted,
  type ImpairRow,
  type ImpairmentSettings,
  type NetworkDeviceRow,
  type NetworkRequest,
  type PortCountersRow,
  type UplinkRow,
} from "@pvkit/abi/toolstack-protocol";
import { formatMac, Keys, pageKey } from "@pvkit/drivers/net/protocol";
import type { PortCounters } from "@pvkit/drivers/net/port";
import { Capture, type CaptureSource } from "./capture.ts";
import { DEFAULT_SEED } from "./impairment.ts";
import { PcapWriter } from "./pcap.ts";
import { VIF_ROOT, type NetbackService } from "./service.ts";
import { VxlanUplink } from "./uplink.ts";

export interface NetControlStore {
  tryRead(path: string): string | undefined;
  directory(path: string): string[];
}

/** What closes when the CLI goes away: its connection. */
export interface Connection {
  once(event: "close", fn: () => void): unknown;
}

const NET_OPS = new Set([
  "network-list",
  "capture-start",
  "capture-wait",
  "capture-stop",
  "network-uplink",
  "network-impair",
]);

/** A bridge's name as a vif spec may give it. */
const BRIDGE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

export function isNetworkRequest(req: { op: string }): req is NetworkRequest {
  return NET_OPS.has(req.op);
}

/** Why a file could not be written, in words. */
function fileReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const words: Record<string, string> = {
    ENOENT: "no such directory",
    EACCES: "permission denied",
    EISDIR: "it is a directory",
    ENOTDIR: "a part of the path is not a directory",
    ENOSPC: "no space left on the device",
    EROFS: "the file system is read-only",
  };
  return (code && words[code]) ?? (e instanceof Error ? e.message : String(e));
}

const countersRow = (c: PortCounters): PortCountersRow => ({ ...c });

export class NetControl {
  private nextCapture = 1;
  private readonly captures = new Map<number, Capture>();

  constructor(
    private readonly netback: NetbackService,
    private readonly store: NetControlStore,
    /** A domain's id from its name or id; throws "no domain ..." when there is none. */
    private readonly resolve: (domain: string) => number,
  ) {}

  async handle(req: NetworkRequest, conn: Connection): Promise<unknown> {
    switch (req.op) {
      case "network-list":
        return req.domain === undefined ? this.bridges() : this.vifs(String(req.domain));
      case "capture-start":
        return this.captureStart(req, conn);
      case "capture-wait":
        return this.capture(req.capture, req.op).done;
      case "capture-stop":
        return this.capture(req.capture, req.op).stop("stopped");
      case "network-uplink":
        return this.uplink(String(req.bridge), String(req.spec));
      case "network-impair":
        return this.impair(req);
    }
  }

  /**
   * A domain's vifs: xl network-list's columns from xenstore, counters from netback. The rows are
   * the vifs dom0 serves (its backend directories) and the MAC the one dom0 gave; what comes from
   * the guest's frontend directory is numbers only, read as numbers.
   */
  vifs(domain: string): NetworkDeviceRow[] {
    const domid = this.named("network-list", domain);
    const dir = `/local/domain/${domid}/device/vif`;
    let ids: string[];
    try {
      ids = this.store.directory(`${VIF_ROOT}/${domid}`);
    } catch {
      return [];
    }
    const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : -1);
    const served = this.netback.list();
    return ids
      .filter((id) => /^\d+$/.test(id))
      .map((id) => {
        const fe = `${dir}/${id}`;
        // Built from the ids, not read from the guest's `backend` node, which it may point anywhere.
        const be = `${VIF_ROOT}/${domid}/${id}`;
        const q = `${fe}/queue-0`;
        const device = served.find((d) => d.domid === domid && d.devid === Number(id));
        return {
          idx: Number(id),
          backendId: num(this.store.tryRead(`${fe}/${Keys.backendId}`)),
          mac: this.store.tryRead(`${be}/${Keys.mac}`) ?? "",
          handle: num(this.store.tryRead(`${fe}/${Keys.handle}`)),
          state: num(this.store.tryRead(`${fe}/${Keys.state}`)),
          backendState: num(this.store.tryRead(`${be}/${Keys.state}`)),
          eventChannel: num(this.store.tryRead(`${q}/${Keys.eventChannel}`)),
          txRingRef: num(this.store.tryRead(`${q}/${pageKey("tx-ring")}`)),
          rxRingRef: num(this.store.tryRead(`${q}/${pageKey("rx-ring0")}`)),
          backendPath: be,
          bridge: this.store.tryRead(`${be}/${Keys.bridge}`) ?? "",
          mtu: num(this.store.tryRead(`${be}/${Keys.mtu}`)),
          link: this.store.tryRead(`${be}/${Keys.link}`) ?? "down",
          counters: device ? countersRow(device.counters) : null,
        };
      })
      .sort((a, b) => a.idx - b.idx);
  }

  /** Every bridge, its MAC table's size, its ports and their counters. */
  bridges(): BridgeRow[] {
    return [...this.netback.bridges.values()]
      .map((b) => ({
        name: b.name,
        macs: b.liveEntries(),
        frames: b.stats.frames,
        flooded: b.stats.flooded,
        impairment: b.impaired ? { ...b.impaired } : null,
        dropped: b.stats.dropped,
        reordered: b.stats.reordered,
        duplicated: b.stats.duplicated,
        ports: [...b.ports]
          .map((p) => ({
            name: p.name,
            kind: p instanceof VxlanUplink ? "vxlan" : "vif",
            domid: p.domid,
            mac: p instanceof VxlanUplink ? p.remote : formatMac(p.mac),
            counters: countersRow(p.counters),
          }))
          .sort((x, y) => x.name.localeCompare(y.name)),
      }))
      .sort((x, y) => x.name.localeCompare(y.name));
  }

  private captureStart(
    req: Extract<NetworkRequest, { op: "capture-start" }>,
    conn: Connection,
  ): CaptureStarted {
    const target = String(req.target);
    const file = String(req.file);
    const what = `capture ${target}`;
    if (!isAbsolute(file)) throw new Error(`${what}: "${file}" is not an absolute path`);
    const count = req.count === undefined ? undefined : Number(req.count);
    const seconds = req.seconds === undefined ? undefined : Number(req.seconds);
    if (count !== undefined && !(Number.isInteger(count) && count >= 1))
      throw new Error(`${what}: --count must be a whole number of frames, at least 1`);
    if (seconds !== undefined && !(seconds > 0 && seconds <= 2 ** 31 / 1000))
      throw new Error(`${what}: --seconds must be more than 0`);
    const { source, label } = this.source(target);
    let writer: PcapWriter;
    try {
      writer = new PcapWriter(file);
    } catch (e) {
      throw new Error(`${what}: cannot write ${file}: ${fileReason(e)}`);
    }
    const capture = new Capture(writer, source, { count, seconds }, fileReason);
    const id = this.nextCapture++;
    this.captures.set(id, capture);
    const forget = () => this.captures.delete(id);
    void capture.done.then(forget);
    conn.once("close", () => capture.stop("stopped"));
    return { capture: id, what: label };
  }

  /** A bridge by name, else a domain's vifs. */
  private source(target: string): { source: CaptureSource; label: string } {
    const bridge = this.netback.bridges.get(target);
    if (bridge) return { source: { bridge }, label: `bridge ${target}` };
    let domid: number;
    try {
      domid = this.resolve(target);
    } catch {
      throw new Error(`capture ${target}: no bridge or domain of that name`);
    }
    const vifs = this.netback.list().filter((d) => d.domid === domid);
    if (vifs.length === 0) throw new Error(`capture ${target}: it has no network interfaces`);
    const ports = vifs.map((port) => ({ bridge: this.netback.bridge(port.bridgeOf), port }));
    return { source: { ports }, label: `domain ${target} (${vifs.map((v) => v.name).join(", ")})` };
  }

  private capture(id: number, op: string): Capture {
    const c = this.captures.get(Number(id));
    if (!c) throw new Error(`${op} ${id}: no such capture (it has ended)`);
    return c;
  }

  private async uplink(bridge: string, spec: string): Promise<UplinkRow> {
    const what = `network-uplink ${bridge}`;
    if (!BRIDGE_NAME.test(bridge))
      throw new Error(`${what}: a bridge name is 1 to 15 letters, digits, '.', '_' or '-'`);
    let parsed;
    try {
      parsed = parseVxlanSpec(spec);
    } catch (e) {
      throw new Error(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
    let up: VxlanUplink;
    try {
      up = await this.netback.addUplink(bridge, parsed);
    } catch (e) {
      throw new Error(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return { bridge, port: up.name, localPort: parsed.localPort, remote: up.remote, vni: parsed.vni };
  }

  /**
   * Sets (or, all probabilities 0, clears) a bridge's impairment. A bridge not made yet is made
   * now, as an uplink makes it: a test impairs the bridge, then boots the guests that use it.
   */
  private impair(req: Extract<NetworkRequest, { op: "network-impair" }>): ImpairRow {
    const bridge = String(req.bridge);
    const what = `network-impair ${bridge}`;
    if (!BRIDGE_NAME.test(bridge))
      throw new Error(`${what}: a bridge name is 1 to 15 letters, digits, '.', '_' or '-'`);
    const chance = (knob: "loss" | "reorder" | "duplicate"): number => {
      const v = req[knob] ?? 0;
      if (typeof v !== "number" || !(v >= 0 && v <= 1))
        throw new Error(`${what}: ${knob} ${JSON.stringify(v)} is not a probability from 0 to 1`);
      return v;
    };
    const seed = req.seed ?? DEFAULT_SEED;
    if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffff_ffff))
      throw new Error(`${what}: seed ${JSON.stringify(seed)} is not a whole number from 0 to 4294967295`);
    const settings: ImpairmentSettings = {
      loss: chance("loss"),
      reorder: chance("reorder"),
      duplicate: chance("duplicate"),
      seed,
    };
    const b = this.netback.bridge(bridge);
    b.impair(settings);
    return { bridge, impairment: b.impaired ? { ...b.impaired } : null };
  }

  private named(op: string, domain: string): number {
    try {
      return this.resolve(domain);
    } catch (e) {
      throw new Error(`${op} ${domain}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
