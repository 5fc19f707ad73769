/**
 * Does any ACK in a capture acknowledge a byte that no captured segment carried? tshark answers
 * with a heuristic ("ACKed segment that wasn't captured"), which a lossy, reordering link fools: a
 * segment the impairment held back and released late fills a hole after go-back-N retransmission has
 * resent the same bytes cut at other boundaries, and tshark's running "next sequence number" no
 * longer tells what was seen. This is the exact question, asked of tshark's fields: per direction of
 * each connection, the union of the sequence space its captured segments covered (SYN and FIN count
 * one each), and for every ACK from the other side, whether everything below it is in that union.
 *
 * Only meaningful for a capture taken where every frame passes before it can reach its receiver
 * (dom0's bridge tap, before the impairment): then an ACK for bytes never captured is a frame that
 * reached a guest some other way — a real bug.
 */
import { tshark } from "./tshark.ts";

/** Sequence space covered from offset 0 (the SYN) without a gap, and what lies beyond a gap. */
class Coverage {
  prefix = 0;
  private beyond: [number, number][] = [];

  add(start: number, end: number): void {
    if (end <= this.prefix) return;
    this.beyond.push([start, end]);
    this.beyond.sort((a, b) => a[0] - b[0]);
    while (this.beyond.length > 0 && this.beyond[0]![0] <= this.prefix) {
      this.prefix = Math.max(this.prefix, this.beyond.shift()![1]);
    }
  }
}

/** "frame N: ACK x from A beyond what B sent (covered to y)" for each such ACK; [] when none. */
export async function acksOfUnseenData(file: string, extra: string[] = []): Promise<string[]> {
  const out = await tshark([
    ...["-r", file, "-Y", "tcp", "-T", "fields", "-E", "separator=,"],
    ...["-e", "frame.number", "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport"],
    ...["-e", "tcp.seq_raw", "-e", "tcp.len", "-e", "tcp.flags.syn", "-e", "tcp.flags.fin"],
    ...["-e", "tcp.flags.ack", "-e", "tcp.ack_raw"],
    ...extra,
  ]);
  /** Per direction "src:port>dst:port": the ISN (its SYN's sequence number) and what was covered. */
  const sent = new Map<string, { isn: number; covered: Coverage }>();
  const bad: string[] = [];
  for (const line of out.split("\n")) {
    if (line.trim() === "") continue;
    const [frame, src, sport, dst, dport, seqS, lenS, synS, finS, ackS, ackRaw] = line.split(",");
    const here = `${src}:${sport}>${dst}:${dport}`;
    const back = `${dst}:${dport}>${src}:${sport}`;
    const seq = Number(seqS);
    const syn = synS === "1" || synS === "True";
    const fin = finS === "1" || finS === "True";
    if (syn && !sent.has(here)) sent.set(here, { isn: seq, covered: new Coverage() });
    const mine = sent.get(here);
    if (mine) {
      const start = (seq - mine.isn) >>> 0;
      mine.covered.add(start, start + (syn ? 1 : 0) + Number(lenS) + (fin ? 1 : 0));
    }
    const theirs = sent.get(back);
    if ((ackS === "1" || ackS === "True") && theirs) {
      const acked = (Number(ackRaw) - theirs.isn) >>> 0;
      if (acked > theirs.covered.prefix)
        bad.push(
          `frame ${frame}: ACK of ${acked} from ${here} beyond what was captured (${theirs.covered.prefix})`,
        );
    }
  }
  return bad;
}
