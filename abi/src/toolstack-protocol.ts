/**
 * The host control protocol: how the `pvkit` CLI talks to dom0's toolstack over a unix socket.
 * Newline-delimited JSON: each request carries an `id`, each response echoes it with either `result`
 * or a one-line `error`. After a successful `console` request the connection stops being JSON and
 * carries the guest console's raw bytes both ways until either side closes it.
 */

export interface DomainSummary {
  name: string;
  domid: number;
  /** MiB */
  memory: number;
  vcpus: number;
  /** xl's state letters: r running, b blocked, p paused, s shutdown, c crashed, d dying. */
  state: string;
  /** CPU seconds consumed. */
  time: number;
}

/**
 * `pvkit list -l`: one domain's whole record, as `xl list -l` prints libxl's domain config. `config`
 * is the xl.cfg file the domain was created with, parsed (its keys as the file spells them; paths
 * absolute; memory in MiB); null for dom0 and any domain the toolstack did not create. `runtime` is
 * what the hypervisor says of it now.
 */
export interface DomainRecord {
  domid: number;
  config: {
    file: string;
    name: string;
    uuid: string;
    type: "pv";
    kernel: string;
    memory: number;
    maxmem: number;
    vcpus: number;
    on_poweroff: string;
    on_reboot: string;
    on_crash: string;
    /** The kernel command line (`extra`, or its alias `cmdline`). */
    extra: string;
    disk: { target: string; format: string; vdev: string; readonly: boolean }[];
    /** `devid`: the device id (the guest's eth<devid>); mtu when the entry set it. */
    vif: { devid: number; mac: string; bridge: string; ip?: string; mtu?: number }[];
    inspect: boolean;
  } | null;
  runtime: {
    name: string;
    /** xl's six state positions, e.g. "-b----". */
    state: string;
    /** CPU seconds consumed. */
    cpu_time: number;
    /** MiB held now, and the most it may hold. */
    memory: number;
    maxmem: number;
    online_vcpus: number;
    /** Why it stopped (poweroff, reboot, crash, ...), once it has. */
    shutdown_reason?: string;
  };
}

/**
 * `pvkit top`: a domain's list entry with its running totals; the CLI takes rates from two
 * readings. `hypercalls` and `events` (EVTCHNOP_send calls) are counted by the hypervisor.
 */
export interface DomainStats extends DomainSummary {
  /** MiB */
  maxmem: number;
  hypercalls: number;
  events: number;
}

/** A step of `create`, reported as it starts (the CLI shows the slow ones on a terminal). */
export interface CreateProgress {
  step: string;
  /** 1-based, of `total`. */
  index: number;
  total: number;
}

/** `pvkit info`: the host as `xl info` shows it (memory in MiB). */
export interface HostInfo {
  version: string;
  nr_cpus: number;
  total_memory: number;
  /** Memory not promised to any domain: a domain is admitted only when its memory fits here. */
  free_memory: number;
  nr_domains: number;
  /** The warm pool (`pvkit up --pool N`): domU workers it keeps ready, ready now, domains served. */
  pool_size?: number;
  pool_ready?: number;
  pool_served?: number;
}

export type ControlRequest =
  | { id: number; op: "create"; config: string; file: string; inspect?: boolean; inspectBrk?: boolean }
  | { id: number; op: "list" }
  | { id: number; op: "list-long" }
  | { id: number; op: "stats" }
  | { id: number; op: "info" }
  | { id: number; op: "pause" | "unpause" | "destroy" | "reboot"; domain: string }
  | { id: number; op: "shutdown"; domain: string; wait?: boolean }
  | { id: number; op: "dmesg"; domain?: string }
  | { id: number; op: "console"; domain: string }
  | { id: number; op: "xenstore-read" | "xenstore-ls" | "xenstore-rm"; path: string }
  | { id: number; op: "xenstore-write"; path: string; value: string }
  | { id: number; op: "mem-set" | "mem-max"; domain: string; mib: number }
  | { id: number; op: "block-list"; domain: string }
  | { id: number; op: "block-attach"; domain: string; disk: string; cwd: string }
  | { id: number; op: "block-detach"; domain: string; vdev: string; force?: boolean }
  /** `vif` is a cfg `vif = [...]` entry; answered with { devid, mac, connected }. */
  | { id: number; op: "network-attach"; domain: string; vif: string }
  /** `vif` is the device id or the MAC. */
  | { id: number; op: "network-detach"; domain: string; vif: string; force?: boolean }
  | NetworkRequest;

/** `pvkit block-list`: one virtual disk of a domain, as xl block-list shows it. */
export interface BlockDeviceRow {
  vdev: number;
  /** The guest's name for it (xvda). */
  name: string;
  backendId: number;
  /** The frontend's XenbusState (4 = Connected). */
  state: number;
  /** The backend's XenbusState. */
  backendState: number;
  eventChannel: number;
  ringRef: number;
  backendPath: string;
  /** The image file it serves, and its mode ("w" or "r"). */
  params: string;
  mode: string;
}

/** xl block-list's layout, plus the image: `Vdev BE handle state evt-ch ring-ref BE-path`. */
export function formatBlockList(rows: BlockDeviceRow[]): string {
  const head = ["Vdev", "BE", "handle", "state", "evt-ch", "ring-ref", "BE-path", "image"];
  const lines = rows.map((r) => [
    `${r.vdev}`,
    `${r.backendId}`,
    `${r.vdev}`,
    `${r.state}`,
    r.eventChannel < 0 ? "-1" : `${r.eventChannel}`,
    r.ringRef < 0 ? "-1" : `${r.ringRef}`,
    r.backendPath,
    `${r.params} (${r.mode === "w" ? "rw" : "ro"})`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return (
    [head, ...lines]
      .map((l) =>
        l
          .map((c, i) => c.padEnd(widths[i]!))
          .join(" ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

/** A request's answer; a `create` may send `progress` lines before it. */
export type ControlResponse =
  { id: number; result: unknown } | { id: number; error: string } | { id: number; progress: CreateProgress };

/** Splits a byte stream into complete lines; keeps the partial tail for the next chunk. */
export class LineSplitter {
  private tail = "";
  /** Longest line accepted (a request or response); longer input is a protocol error. */
  constructor(private readonly maxLine = 1 << 20) {}
  push(chunk: string): string[] {
    const parts = (this.tail + chunk).split("\n");
    this.tail = parts.pop()!;
    if (this.tail.length > this.maxLine) throw new Error(`control line longer than ${this.maxLine} bytes`);
    return parts.filter((l) => l.length > 0);
  }
  /** Whatever followed the last newline (raw console bytes after a `console` response). */
  rest(): string {
    const r = this.tail;
    this.tail = "";
    return r;
  }
}

/** xl info's layout: `key : value`, keys padded to one column. */
export function formatHostInfo(info: HostInfo): string {
  return (
    Object.entries(info)
      .map(([k, v]) => `${k.padEnd(23)}: ${String(v)}`)
      .join("\n") + "\n"
  );
}

/** xl list's layout: `Name  ID   Mem VCPUs  State  Time(s)`. */
export function formatDomainList(domains: DomainSummary[]): string {
  const head = `${"Name".padEnd(40)}${"ID".padStart(5)}${"Mem".padStart(6)}${"VCPUs".padStart(6)}${"State".padStart(11)}${"Time(s)".padStart(10)}`;
  const rows = domains.map(
    (d) =>
      `${d.name.padEnd(40)}${String(d.domid).padStart(5)}${String(d.memory).padStart(6)}${String(d.vcpus).padStart(6)}` +
      `${stateColumn(d.state).padStart(11)}${d.time.toFixed(1).padStart(10)}`,
  );
  return [head, ...rows].join("\n") + "\n";
}

/**
 * `xl vcpu-list`'s table: one row per vCPU (a pvkit domain has one). A vCPU's state is xl's three
 * positions: running, blocked, paused; pvkit does not pin vCPUs, so CPU is "-" and affinity "all".
 */
export function formatVcpuList(domains: DomainSummary[]): string {
  const head =
    `${"Name".padEnd(32)}${"ID".padStart(5)}${"VCPU".padStart(6)}${"CPU".padStart(5)}` +
    `${"State".padStart(7)}${"Time(s)".padStart(10)} Affinity (Hard / Soft)`;
  const rows = domains.map((d) => {
    const state = ["r", "b", "p"].map((c) => (d.state.includes(c) ? c : "-")).join("");
    return (
      `${d.name.padEnd(32)}${String(d.domid).padStart(5)}${"0".padStart(6)}${"-".padStart(5)}` +
      `${state.padStart(7)}${d.time.toFixed(1).padStart(10)} all / all`
    );
  });
  return [head, ...rows].join("\n") + "\n";
}

/** xl prints six positions, one per state letter, with '-' where the state does not hold. */
function stateColumn(state: string): string {
  return "rbpscd"
    .split("")
    .map((c) => (state.includes(c) ? c : "-"))
    .join("");
}

// ---- dom0 networking: network-list, capture, the VXLAN uplink, impairment (docs/network.md) ----

/**
 * `network-list` with a domain: its vifs (NetworkDeviceRow[]); without one: every bridge
 * (BridgeRow[]). A capture is started, waited for and stopped by id; closing the connection stops
 * every capture it started. `network-uplink` plugs a VXLAN uplink into a bridge. `network-impair`
 * sets a bridge's impairment for tests (ImpairRow): probabilities from 0 to 1, a knob left out is
 * 0, all 0 clears it; the seed defaults to 1; a bridge not yet made is made, so a test can impair
 * it before its guests boot.
 */
export type NetworkRequest =
  | { id: number; op: "network-list"; domain?: string }
  | {
      id: number;
      op: "capture-start";
      /** A bridge's name, or else a domain's name or id. */
      target: string;
      /** Absolute path of the pcap file dom0 writes. */
      file: string;
      count?: number;
      seconds?: number;
    }
  | { id: number; op: "capture-wait" | "capture-stop"; capture: number }
  | { id: number; op: "network-uplink"; bridge: string; spec: string }
  | {
      id: number;
      op: "network-impair";
      bridge: string;
      loss?: number;
      reorder?: number;
      duplicate?: number;
      seed?: number;
    };

/**
 * A bridge's impairment, for tests: the probability that a frame it hands a port is dropped, held
 * back to go after the next frame for that port, or handed over twice; and the seed of the
 * generator that draws those chances (the same seed and frames make the same choices).
 */
export interface ImpairmentSettings {
  loss: number;
  reorder: number;
  duplicate: number;
  seed: number;
}

/** `network-impair`'s answer: the bridge and the impairment now in force (null: none). */
export interface ImpairRow {
  bridge: string;
  impairment: ImpairmentSettings | null;
}

/** A port's counters; tx is what the port's side sent into the bridge, rx what it was given. */
export interface PortCountersRow {
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
  /** Frames for the port's side that were dropped (no buffers posted, link down, send failed). */
  rxDropped: number;
  /** Frames from the port's side refused as malformed. */
  txErrors: number;
}

/** `pvkit network-list <domain>`: one vif, as `xl network-list` shows it, plus its port. */
export interface NetworkDeviceRow {
  idx: number;
  backendId: number;
  mac: string;
  handle: number;
  /** The frontend's XenbusState (4 = Connected). */
  state: number;
  backendState: number;
  /** Queue 0's event channel and tx/rx ring refs, as the frontend published them (-1: none yet). */
  eventChannel: number;
  txRingRef: number;
  rxRingRef: number;
  backendPath: string;
  bridge: string;
  mtu: number;
  /** The backend's link-state node: "up" once the vif is plugged into its bridge. */
  link: string;
  /** netback's counters for this vif (null when dom0 serves no such vif). */
  counters: PortCountersRow | null;
}

export interface BridgePortRow {
  name: string;
  /** "vif" for a guest's interface, "vxlan" for an uplink. */
  kind: string;
  domid: number;
  mac: string;
  counters: PortCountersRow;
}

/** `pvkit network-list` without a domain: one bridge. */
export interface BridgeRow {
  name: string;
  /** Live entries in the MAC table. */
  macs: number;
  frames: number;
  flooded: number;
  /** The impairment in force (null: none), and what impairments have done so far. */
  impairment: ImpairmentSettings | null;
  dropped: number;
  reordered: number;
  duplicated: number;
  ports: BridgePortRow[];
}

export interface CaptureStarted {
  capture: number;
  /** "bridge pvbr0" or "domain web (vif3.0)". */
  what: string;
}

export interface CaptureSummary {
  file: string;
  frames: number;
  bytes: number;
  /** count, seconds, stopped or write-error. */
  end: string;
  error?: string;
}

/** `network-uplink`'s answer: the uplink as plugged in. */
export interface UplinkRow {
  bridge: string;
  port: string;
  localPort: number;
  remote: string;
  vni: number;
}

/** A VXLAN uplink (RFC 7348) as `vxlan:<local-port>:<remote-ip>:<remote-port>:<vni>` spells it. */
export interface VxlanSpec {
  localPort: number;
  remoteIp: string;
  remotePort: number;
  vni: number;
}

/**
 * Parses an uplink spec; throws an Error saying what is wrong. The remote is an IPv4 address, or
 * an IPv6 one in brackets (`vxlan:4789:[fd00::2]:4789:42`).
 */
export function parseVxlanSpec(spec: string): VxlanSpec {
  const m = /^vxlan:(\d{1,5}):(\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d{1,5}):(\d{1,8})$/.exec(spec);
  if (!m) throw new Error(`"${spec}" is not vxlan:<local-port>:<remote-ip>:<remote-port>:<vni>`);
  const [localPort, remotePort, vni] = [Number(m[1]), Number(m[3]), Number(m[4])];
  const remoteIp = m[2]!.replace(/^\[|\]$/g, "");
  if (!(localPort >= 1 && localPort <= 65535)) throw new Error(`local port ${m[1]} is not 1..65535`);
  if (!(remotePort >= 1 && remotePort <= 65535)) throw new Error(`remote port ${m[3]} is not 1..65535`);
  if (!(vni <= 0xffffff)) throw new Error(`VNI ${m[4]} does not fit 24 bits (0..16777215)`);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(remoteIp);
  if (!m[2]!.startsWith("[") && !(v4 && v4.slice(1).every((o) => Number(o) <= 255)))
    throw new Error(`remote "${remoteIp}" is not an IPv4 address (or an IPv6 one in brackets)`);
  return { localPort, remoteIp, remotePort, vni };
}

/** Lays out a table: columns padded to their widest cell, `right` columns aligned right. */
function table(head: string[], rows: string[][], right: Set<number> = new Set()): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((l) => l[i]!.length)));
  const line = (l: string[]) =>
    l
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join(" ")
      .trimEnd();
  return [head, ...rows].map(line).join("\n") + "\n";
}

const counterCells = (c: PortCountersRow | null): string[] =>
  c
    ? [c.txFrames, c.txBytes, c.rxFrames, c.rxBytes, c.rxDropped, c.txErrors].map(String)
    : ["-", "-", "-", "-", "-", "-"];
const COUNTER_HEAD = ["tx-frames", "tx-bytes", "rx-frames", "rx-bytes", "drops", "errors"];

/**
 * xl network-list's layout (`Idx BE Mac Addr. handle state evt-ch tx-/rx-ring-ref BE-path`), then
 * the bridge, link and the vif's counters as the guest sees them (tx: frames it sent).
 */
export function formatNetworkList(rows: NetworkDeviceRow[]): string {
  const head = ["Idx", "BE", "Mac Addr.", "handle", "state", "evt-ch", "tx-/rx-ring-ref", "BE-path"];
  const cells = rows.map((r) => [
    `${r.idx}`,
    `${r.backendId}`,
    r.mac,
    `${r.handle}`,
    `${r.state}`,
    `${r.eventChannel}`,
    `${r.txRingRef}/${r.rxRingRef}`,
    r.backendPath,
    r.bridge,
    r.link,
    `${r.mtu}`,
    ...counterCells(r.counters),
  ]);
  return table(
    [...head, "bridge", "link", "mtu", ...COUNTER_HEAD],
    cells,
    new Set([10, 11, 12, 13, 14, 15, 16]),
  );
}

/** Every bridge: a line for the bridge, then its ports indented, with their counters. */
export function formatBridgeList(bridges: BridgeRow[]): string {
  if (bridges.length === 0) return "no bridges (a bridge is made when the first vif naming it connects)\n";
  const rows: string[][] = [];
  for (const b of bridges) {
    rows.push([
      b.name,
      `${b.ports.length}`,
      `${b.macs}`,
      `${b.frames}`,
      `${b.flooded}`,
      "",
      "",
      "",
      ...COUNTER_HEAD.map(() => ""),
    ]);
    for (const p of b.ports)
      rows.push(["", "", "", "", "", `  ${p.name}`, `${p.domid}`, p.mac, ...counterCells(p.counters)]);
  }
  const head = ["Bridge", "ports", "MACs", "frames", "flooded", "Port", "dom", "Address", ...COUNTER_HEAD];
  return table(head, rows, new Set([1, 2, 3, 4, 6, 8, 9, 10, 11, 12, 13])) + impairmentLines(bridges);
}

/** A probability as a percentage: 0.01 → "1%". */
export const percent = (p: number): string => `${Number((p * 100).toPrecision(6))}%`;

/** "loss 1%, reorder 0.5%, duplicate 0%, seed 1", or "no impairment". */
export function describeImpairment(s: ImpairmentSettings | null): string {
  if (!s) return "no impairment";
  return `loss ${percent(s.loss)}, reorder ${percent(s.reorder)}, duplicate ${percent(s.duplicate)}, seed ${s.seed}`;
}

/** Under the table, a line for each bridge that is impaired or has been: what is set, what it did. */
function impairmentLines(bridges: BridgeRow[]): string {
  return bridges
    .filter((b) => b.impairment || b.dropped || b.reordered || b.duplicated)
    .map(
      (b) =>
        `${b.name}: impairment (for tests): ${b.impairment ? describeImpairment(b.impairment) : "off"}; ` +
        `${b.dropped} dropped, ${b.reordered} reordered, ${b.duplicated} duplicated\n`,
    )
    .join("");
}
