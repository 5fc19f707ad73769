/**
 * IPv4 fragment reassembly (RFC 791 section 3.2, RFC 815): putting a datagram that a link with a
 * smaller MTU cut into pieces back together before it goes up to ICMP, UDP or TCP.
 *
 * A fragment says which datagram it belongs to by (source, destination, protocol, identification),
 * where its data goes by the fragment offset (in 8-byte units on the wire, bytes in Ipv4Header), and
 * whether more follow by the MF flag: the fragment with MF clear is the last one and fixes the
 * datagram's length. The pieces may arrive in any order, duplicated, or never.
 *
 * Reassembly is where IP stacks have been attacked most, so every rule here is a lesson:
 *
 * - **Overlaps drop the datagram.** Teardrop (1997) sent a fragment lying inside the previous one,
 *   and stacks computing "this end minus the previous end" copied a negative length. Later attacks
 *   used overlaps to give an IDS and a host different bytes (which copy wins differs by OS), and
 *   FragmentSmack (CVE-2018-5391) used streams of overlapping tiny fragments to make Linux rescan
 *   its queues. Since 2018 Linux, like RFC 5722 for IPv6, discards the whole datagram on any
 *   overlap: no sender that works has a reason to send one. Only an exact duplicate (same place,
 *   same bytes) is harmless, a retransmission or a looped copy, and it is ignored.
 * - **Every fragment but the last carries a multiple of 8 bytes**, since the next one's offset can
 *   only say multiples of 8; anything else is malformed and refused before it costs any state.
 * - **One end.** A second "last fragment" with a different end, data beyond the end, or an end
 *   below data already held means the pieces disagree about the datagram: it is dropped.
 * - **Bounded.** An attacker can send first fragments forever and never the rest. So a datagram
 *   lives at most `timeoutMs` from its first fragment (RFC 1122 3.3.2 allows up to 60 s; Linux uses
 *   30 s), at most `maxDatagrams` are pending and at most `maxBytes` are held across all of them
 *   (Linux's ipfrag_high_thresh is 4 MiB): beyond that the oldest pending datagram goes. And one
 *   datagram holds at most `maxFragments` pieces, so no datagram can be made of thousands of 8-byte
 *   slivers, each insertion costing a walk over the others.
 * - **At most 65535 bytes.** Offset 65528 plus a payload can describe a datagram longer than the
 *   16-bit total length can say ("ping of death", 1996); it is refused as soon as a fragment claims
 *   data beyond that, not when it would be copied.
 *
 * The pieces of one datagram are kept in a list sorted by offset. Because overlaps are refused it is
 * a list of disjoint ranges, so "is it complete" is just "the bytes held equal the end", and finding
 * where a fragment goes is one binary search: with at most `maxFragments` pieces, each fragment
 * costs a small bounded amount of work plus copying its bytes, and a flood of fragments costs time
 * linear in its length.
 *
 * The header of the result is the header of the first fragment (offset 0), options included, with
 * the total length, flags and offset rewritten and its checksum recomputed. The caller checked each
 * fragment's header checksum; the result is not checked again.
 */
import { checksum } from "./checksum.ts";
import { ipNumber, type Ipv4Header } from "./ipv4.ts";

/** The limits a Reassembly keeps to; each can be overridden in its options. */
export interface ReassemblyLimits {
  /** How long after its first fragment a datagram may stay incomplete. */
  timeoutMs: number;
  /** Bytes held across all pending datagrams (payloads plus a per-fragment overhead). */
  maxBytes: number;
  /** Datagrams pending at once. */
  maxDatagrams: number;
  /** Pieces one datagram may be made of. */
  maxFragments: number;
}

/**
 * The defaults. 64 pieces fit any datagram cut for an Ethernet path (65535 bytes at 1480 per
 * fragment is 45 pieces); a datagram cut finer than that on average is refused.
 */
export const REASSEMBLY_LIMITS: Readonly<ReassemblyLimits> = {
  timeoutMs: 30_000,
  maxBytes: 4 * 1024 * 1024,
  maxDatagrams: 64,
  maxFragments: 64,
};

/** The largest datagram the 16-bit total length field can describe. */
export const IP_MAX_DATAGRAM = 65535;

/**
 * What each held fragment is charged on top of its payload: the record and array slot it takes.
 * Without it, a flood of tiny fragments would look nearly free while costing real memory.
 */
export const FRAGMENT_OVERHEAD = 64;

export interface ReassemblyOptions {
  now(): number;
  /** Runs `fn` after `ms`; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
  /** Counts fragments and datagrams refused, by reason ("ip.reassembly-overlap"). */
  drop(why: string, n?: number): void;
  /** Counts events ("ip.reassembled"). */
  count(what: string): void;
  limits?: Partial<ReassemblyLimits>;
}

/** One piece held: its data's place [start, end) in the datagram. */
interface Piece {
  start: number;
  end: number;
  /** A copy: the frame the fragment came in may be a larger buffer we must not pin. */
  data: Uint8Array;
  /** It had MF clear. */
  last: boolean;
}

/** One datagram being reassembled. */
interface Pending {
  key: string;
  /** Sorted by start, disjoint. */
  pieces: Piece[];
  /** Payload bytes held: equal to `end` exactly when the pieces cover [0, end). */
  held: number;
  /** Where the datagram's data ends, once the last fragment came. */
  end: number | undefined;
  /** The furthest any piece reaches, to catch a last fragment ending before data we hold. */
  reach: number;
  /**
   * A copy of the first fragment's header, which becomes the result's. Only the copy is kept, not
   * the fragment's Ipv4Header, whose fields are views into the frame it arrived in.
   */
  header: Uint8Array | undefined;
  /** Bytes this datagram is charged in the shared budget. */
  cost: number;
  created: number;
  cancel: () => void;
}

export class Reassembly {
  private readonly limits: ReassemblyLimits;
  /** Map order is creation order, so the first entry is always the oldest datagram. */
  private readonly datagrams = new Map<string, Pending>();
  private bytes = 0;

  constructor(private readonly o: ReassemblyOptions) {
    this.limits = { ...REASSEMBLY_LIMITS, ...o.limits };
  }

  /** How much is pending: datagrams and the bytes charged for them. */
  pending(): { datagrams: number; bytes: number } {
    return { datagrams: this.datagrams.size, bytes: this.bytes };
  }

  /**
   * One fragment (MF set or a non-zero offset) in. Returns the whole datagram when this fragment
   * completes it, otherwise undefined (it was kept, or dropped and counted). A header that is not a
   * fragment is returned as it is.
   */
  input(h: Ipv4Header): Ipv4Header | undefined {
    if (!h.mf && h.fragmentOffset === 0) return h;
    const start = h.fragmentOffset;
    const len = h.payload.length;
    const end = start + len;
    // Malformed on its own: refused before it can create or disturb any state. A zero-length
    // fragment adds nothing and only costs a slot (Linux discards these too). The offset check
    // matters only for headers not made by parseIpv4, which always gives a multiple of 8.
    if ((h.mf && len % 8 !== 0) || len === 0 || !Number.isInteger(start) || start < 0 || start % 8 !== 0)
      return this.refuse("ip.bad-fragment");
    const key = `${ipNumber(h.src)}/${ipNumber(h.dst)}/${h.protocol}/${h.id}`;
    let d = this.datagrams.get(key);
    // A timer that fires late must not let a datagram outlive its time: check the clock too.
    if (d && this.o.now() - d.created >= this.limits.timeoutMs) {
      this.discard(d, "ip.reassembly-timeout");
      d = undefined;
    }
    // The result's header is at least as long as this one's if it is the first, else at least 20.
    const headerLength = start === 0 ? h.headerLength : (d?.header?.length ?? 20);
    if (headerLength + Math.max(end, d?.reach ?? 0) > IP_MAX_DATAGRAM)
      return d ? this.discard(d, "ip.reassembly-too-big") : this.refuse("ip.reassembly-too-big");

    let at = 0;
    if (d) {
      at = insertionPoint(d.pieces, start);
      const same = d.pieces[at];
      if (
        same &&
        same.start === start &&
        same.end === end &&
        same.last === !h.mf &&
        sameBytes(same.data, h.payload)
      )
        return this.refuse("ip.reassembly-duplicate");
      // The pieces must agree on one end: nothing beyond it, and a last fragment reaching every
      // byte already held.
      if (h.mf ? d.end !== undefined && end > d.end : (d.end !== undefined && d.end !== end) || d.reach > end)
        return this.discard(d, "ip.reassembly-bad-end");
      const before = d.pieces[at - 1];
      if ((before && before.end > start) || (same && same.start < end))
        return this.discard(d, "ip.reassembly-overlap");
      if (d.pieces.length >= this.limits.maxFragments)
        return this.discard(d, "ip.reassembly-too-many-fragments");
    }

    // Room in the shared budget: the oldest pending datagrams give way to this fragment. If it is
    // part of the oldest itself, or does not fit even alone (tiny configured limits), it is the
    // one refused.
    const cost = len + FRAGMENT_OVERHEAD + (start === 0 ? h.headerLength : 0);
    while (this.bytes + cost > this.limits.maxBytes) {
      const oldest = this.datagrams.values().next().value as Pending | undefined;
      if (!oldest || oldest === d) break;
      this.evictOldest();
    }
    if (this.bytes + cost > this.limits.maxBytes)
      return d ? this.discard(d, "ip.reassembly-overflow") : this.refuse("ip.reassembly-overflow");
    if (!d && this.datagrams.size >= this.limits.maxDatagrams) this.evictOldest();

    if (!d) d = this.create(key);
    d.pieces.splice(at, 0, { start, end, data: h.payload.slice(), last: !h.mf });
    d.held += len;
    d.reach = Math.max(d.reach, end);
    d.cost += cost;
    this.bytes += cost;
    if (!h.mf) d.end = end;
    if (start === 0) d.header = h.header.slice();
    // Disjoint pieces inside [0, end) whose lengths add up to end leave no hole.
    if (d.end === undefined || d.held !== d.end) return undefined;
    return this.complete(d);
  }

  /** Stops every timer and forgets the pending datagrams (the stack is going away). */
  close(): void {
    for (const d of this.datagrams.values()) d.cancel();
    this.datagrams.clear();
    this.bytes = 0;
  }

  private create(key: string): Pending {
    const d: Pending = {
      key,
      pieces: [],
      held: 0,
      end: undefined,
      reach: 0,
      header: undefined,
      cost: 0,
      created: this.o.now(),
      cancel: () => {},
    };
    // The clock starts at the first fragment and is not restarted by later ones: a sender that
    // trickles one piece every 29 s cannot keep a datagram alive forever.
    d.cancel = this.o.setTimer(() => {
      if (this.datagrams.get(key) === d) this.discard(d, "ip.reassembly-timeout");
    }, this.limits.timeoutMs);
    this.datagrams.set(key, d);
    return d;
  }

  private evictOldest(): void {
    const oldest = this.datagrams.values().next().value as Pending | undefined;
    if (oldest) this.discard(oldest, "ip.reassembly-overflow");
  }

  /** Counts one fragment refused for `why`, holding on to nothing. */
  private refuse(why: string): undefined {
    this.o.drop(why);
    return undefined;
  }

  /** Forgets `d` and counts one datagram dropped for `why`. Returns undefined for input's sake. */
  private discard(d: Pending, why: string): undefined {
    this.forget(d);
    this.o.drop(why);
    return undefined;
  }

  private forget(d: Pending): void {
    d.cancel();
    this.datagrams.delete(d.key);
    this.bytes -= d.cost;
  }

  /** The whole datagram, one buffer: the first fragment's header, then the data in order. */
  private complete(d: Pending): Ipv4Header {
    this.forget(d);
    const header = d.header!;
    const hl = header.length;
    const out = new Uint8Array(hl + d.end!);
    out.set(header, 0);
    for (const p of d.pieces) out.set(p.data, hl + p.start);
    out[2] = out.length >> 8;
    out[3] = out.length & 0xff;
    // Keep Don't Fragment as the first fragment had it; MF and the offset are gone now.
    out[6] &= 0x40;
    out[7] = 0;
    out[10] = 0;
    out[11] = 0;
    const sum = checksum(out.subarray(0, hl));
    out[10] = sum >> 8;
    out[11] = sum & 0xff;
    this.o.count("ip.reassembled");
    return {
      headerLength: hl,
      totalLength: out.length,
      id: (out[4] << 8) | out[5],
      df: (out[6] & 0x40) !== 0,
      mf: false,
      fragmentOffset: 0,
      ttl: out[8],
      protocol: out[9],
      src: out.subarray(12, 16),
      dst: out.subarray(16, 20),
      header: out.subarray(0, hl),
      payload: out.subarray(hl),
    };
  }
}

/** The index of the first piece starting at or after `start` (binary search). */
function insertionPoint(pieces: Piece[], start: number): number {
  let lo = 0;
  let hi = pieces.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pieces[mid]!.start < start) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
