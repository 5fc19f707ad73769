/**
 * Wireshark's tshark as the judge of our pcap files: CI installs it; elsewhere a test that needs it
 * is skipped with the reason, and under CI=true its absence is an error rather than a skip.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";

export const TSHARK = ["/usr/bin/tshark", "/usr/local/bin/tshark"].find((p) => existsSync(p));

/** Why tshark cannot run here, or undefined when it can. */
export function tsharkMissing(): string | undefined {
  const why = TSHARK ? undefined : "tshark is not installed (apt-get install tshark)";
  if (why && process.env.CI) throw new Error(`under CI: ${why}`);
  return why;
}

/** Runs tshark with `args`; resolves with its stdout, rejects with its stderr. */
export function tshark(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(TSHARK!, args, { timeout: 60_000, maxBuffer: 64 << 20 }, (e, out, err) =>
      e ? reject(new Error(`tshark ${args.join(" ")}: ${err || e.message}`)) : resolve(out),
    );
  });
}

/**
 * Options that have tshark take TCP `ports` as plain data. The tests' streams are random bytes, and
 * now and then a heuristic dissector claims a segment of one (thrift did), asks TCP to reassemble
 * its "messages", then reports a retransmission overlapping what it holds as a malformed frame:
 * tshark's guess failing, not our packets. A port dissected as data is never offered to them.
 */
export const asData = (...ports: number[]): string[] => ports.flatMap((p) => ["-d", `tcp.port==${p},data`]);

/** Frames in a pcap, per protocol path, from `-z io,phs` (e.g. "eth:ip:udp" → 10; the "ethertype" level newer versions show is left out). */
export async function protocolHierarchy(file: string): Promise<Map<string, number>> {
  const out = await tshark(["-r", file, "-q", "-z", "io,phs"]);
  const counts = new Map<string, number>();
  const path: string[] = [];
  for (const line of out.split("\n")) {
    const m = /^(\s*)(\S+)\s+frames:(\d+)\s+bytes:\d+/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 2;
    path.length = depth;
    path.push(m[2]!);
    // Newer tshark puts an "ethertype" level under eth; older ones do not: leave it out.
    counts.set(path.filter((p) => p !== "ethertype").join(":"), Number(m[3]));
  }
  return counts;
}

/** The frame numbers tshark marks malformed (an empty list for a clean file). */
export async function malformedFrames(file: string, extra: string[] = []): Promise<string[]> {
  const out = await tshark([
    ...["-r", file, "-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number"],
    ...extra,
  ]);
  return out.split("\n").filter((l) => l.trim() !== "");
}

/**
 * IPv4 header and UDP checksums tshark verifies: [good, bad] counts (tshark checks neither unless
 * asked to; status 1 is good, 0 bad).
 */
export async function udpChecksums(file: string): Promise<[number, number]> {
  const out = await tshark([
    ...["-r", file, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-Y", "udp"],
    ...["-T", "fields", "-e", "ip.checksum.status", "-e", "udp.checksum.status"],
  ]);
  const rows = out.split("\n").filter((l) => l.trim() !== "");
  const good = rows.filter((r) => r.split("\t").every((s) => s === "1")).length;
  return [good, rows.length - good];
}
