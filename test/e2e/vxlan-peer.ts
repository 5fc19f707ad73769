/**
 * A Linux VXLAN endpoint for the uplink tests: Linux's own `vxlan` link (pvx0) in a network
 * namespace, reached from dom0 over a veth pair. A bridge's VXLAN uplink pointed at it
 * (`uplinkSpec`) puts the guests on that bridge and the namespace's pvx0 on one Ethernet.
 *
 * Linux's vxlan device listens on its own dstport and will not encapsulate towards an address of
 * its own network namespace (it "bypasses" to a local vxlan device instead), so the vxlan link
 * lives in a network namespace reached over a veth pair: exactly the "other machine" the uplink
 * is meant for. Making one needs CAP_NET_ADMIN (root here); vxlanPeerMissing() says why a test
 * must be skipped otherwise. remove() takes everything away again, pass or fail, and a make that
 * fails halfway removes what it made before it throws.
 *
 * Addresses, with n from the pid:
 *   10.<subnet>.n.0/30    the veth pair: .1 dom0's end, .2 the namespace's end (the Linux VTEP)
 *   10.<subnet+1>.n.0/24  the overlay: .1 pvx0 in the namespace, the others for guests
 * vitest runs test files in parallel (a process each), so each file using a peer picks its own
 * tag (in the names of the namespace and the veth pair) and subnet, and each process's pid keeps
 * two runs of one file apart.
 */
import { execFile, execFileSync, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createSocket } from "node:dgram";

/** The vxlan link's name inside the namespace (as in docs/network.md). */
const LINK = "pvx0";

export interface VxlanPeerPlan {
  /** A letter or two that keeps this file's namespace and links apart from another file's. */
  tag: string;
  /** The second octet of the veth pair's addresses; subnet + 1 is the overlay's. */
  subnet: number;
  /** The VXLAN network identifier both ends use. */
  vni: number;
}

export interface VxlanPeer {
  /** The network namespace's name. */
  ns: string;
  /** dom0's end of the veth pair (the uplink's local address). */
  hostSide: string;
  /** The namespace's end of the veth pair: the Linux VTEP the uplink sends to. */
  linuxSide: string;
  /** pvx0's address in the namespace, on the overlay. */
  overlayHost: string;
  /** The vxlan link's name in the namespace. */
  link: string;
  vni: number;
  /** The UDP port both ends listen on (dom0's uplink here, pvx0's dstport in the namespace). */
  port: number;
  /** The `network-uplink` spec that points a bridge at this peer. */
  uplinkSpec: string;
  /** Host `n` on the overlay (the address to give a guest with `ip=`). */
  guestIp(n: number): string;
  /** `ip -n <ns> ...args`, synchronously; its stdout. */
  ip(...args: string[]): string;
  /** Runs `cmd` in the namespace; resolves with its stdout, rejects with its stderr. */
  exec(cmd: string[]): Promise<string>;
  /** Starts `cmd` in the namespace (a server the test talks to); the caller ends it. */
  spawn(cmd: string[]): ChildProcessWithoutNullStreams;
  /** Removes the veth pair and the namespace (and with it pvx0); quiet about what is not there. */
  remove(): void;
}

const id = process.pid % 10_000;
const n = 16 + (process.pid % 200);

/** The names a tag makes: the namespace and the two ends of the veth pair. */
function names(tag: string) {
  return { ns: `pvk${tag}x${id}`, veth: [`pvk${tag}a${id}`, `pvk${tag}b${id}`] as const };
}

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" }).toString();

/** A tool a test needs besides `ip`: its command, arguments that just print its version, its package. */
export type Tool = readonly [cmd: string, versionArgs: readonly string[], pkg: string];

/**
 * Why a peer cannot be made here: `ip` or one of `tools` is not installed, or there is no right
 * to make namespaces and links. Undefined when it can.
 */
export function vxlanPeerMissing(tag: string, tools: readonly Tool[] = []): string | undefined {
  for (const [cmd, args, pkg] of [["ip", ["-V"], "iproute2"] as const, ...tools]) {
    try {
      execFileSync(cmd, [...args], { stdio: "pipe" });
    } catch {
      return `${cmd} is not installed (apt-get install ${pkg})`;
    }
  }
  const { ns } = names(tag);
  try {
    // The right to make one is found out by making one (and removing it: the test makes its own).
    ip("netns", "add", ns);
    ip("netns", "del", ns);
    return undefined;
  } catch (e) {
    const err = String((e as { stderr?: Buffer }).stderr ?? e);
    return `cannot create a network namespace (needs CAP_NET_ADMIN): ${err.trim()}`;
  }
}

/** Makes the namespace, the veth pair and the vxlan link, addressed and up. */
export async function makeVxlanPeer({ tag, subnet, vni }: VxlanPeerPlan): Promise<VxlanPeer> {
  const { ns, veth } = names(tag);
  // A UDP port free here for dom0's end; Linux's end listens on the same number in its namespace.
  const probe = createSocket("udp4");
  await new Promise<void>((r) => probe.bind(0, () => r()));
  const port = probe.address().port;
  probe.close();

  const hostSide = `10.${subnet}.${n}.1`;
  const linuxSide = `10.${subnet}.${n}.2`;
  const guestIp = (host: number) => `10.${subnet + 1}.${n}.${host}`;
  const overlayHost = guestIp(1);
  const inNs = (cmd: string[]) => ["netns", "exec", ns, ...cmd];
  const peer: VxlanPeer = {
    ns,
    hostSide,
    linuxSide,
    overlayHost,
    link: LINK,
    vni,
    port,
    uplinkSpec: `vxlan:${port}:${linuxSide}:${port}:${vni}`,
    guestIp,
    ip: (...args) => ip("-n", ns, ...args),
    exec: (cmd) =>
      new Promise<string>((resolve, reject) =>
        // The limit is only a hang guard: the commands run here end on their own.
        execFile("ip", inNs(cmd), { timeout: 60_000 }, (e, out, err) =>
          e ? reject(new Error(`in ${ns}: ${cmd[0]}: ${err || e.message}`)) : resolve(out),
        ),
      ),
    spawn: (cmd) => spawn("ip", inNs(cmd)),
    remove() {
      for (const cmd of [
        ["link", "del", veth[0]],
        ["netns", "del", ns],
      ]) {
        try {
          ip(...cmd);
        } catch {
          // already gone (or never made)
        }
      }
    },
  };

  try {
    ip("netns", "add", ns);
    ip("link", "add", veth[0], "type", "veth", "peer", "name", veth[1], "netns", ns);
    ip("addr", "add", `${hostSide}/30`, "dev", veth[0]);
    ip("link", "set", veth[0], "up");
    peer.ip("link", "set", "lo", "up");
    peer.ip("addr", "add", `${linuxSide}/30`, "dev", veth[1]);
    peer.ip("link", "set", veth[1], "up");
    // The documented pair of commands (docs/network.md), run in the namespace.
    peer.ip(
      ...["link", "add", LINK, "type", "vxlan", "id", `${vni}`],
      ...["local", linuxSide, "remote", hostSide, "dstport", `${port}`],
    );
    peer.ip("link", "set", LINK, "up");
    peer.ip("addr", "add", `${overlayHost}/24`, "dev", LINK);
  } catch (e) {
    peer.remove();
    throw e;
  }
  return peer;
}
