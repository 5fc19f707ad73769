/**
 * A connection's two byte queues.
 *
 * SendBuffer holds what the program wrote and the peer has not acknowledged: its first byte is
 * snd_una's. Segments are copied out of it by offset (a retransmission reads the same bytes
 * again); an ACK drops bytes from the front. Chunks are kept as written, so a write is one copy
 * and a segment is one more, straight into the frame.
 *
 * ReceiveBuffer holds what arrived and the program has not read: in-order bytes ready to read, and
 * segments that arrived ahead of a hole, kept until the hole fills (RFC 9293 3.10.7.4: "segments
 * with higher beginning sequence numbers SHOULD be held for later processing"). Its free space is
 * the window we advertise, so a peer that respects the window can never make it grow without
 * bound, and one that does not is trimmed to it.
 */
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from "./tcp-seq.ts";

export class SendBuffer {
  private chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already acknowledged. */
  private head = 0;
  /** Bytes held. */
  length = 0;

  constructor(readonly capacity: number) {}

  get free(): number {
    return Math.max(0, this.capacity - this.length);
  }

  push(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.length += data.length;
  }

  /** Copies `len` bytes starting `from` bytes past the front into `dst` at `at`. */
  copyTo(from: number, len: number, dst: Uint8Array, at: number): void {
    let skip = from + this.head;
    for (const c of this.chunks) {
      if (len === 0) return;
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      const n = Math.min(len, c.length - skip);
      dst.set(c.subarray(skip, skip + n), at);
      at += n;
      len -= n;
      skip = 0;
    }
  }

  /** The peer acknowledged the first `n` bytes. */
  drop(n: number): void {
    n = Math.min(n, this.length);
    this.length -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      const left = c.length - this.head;
      if (n < left) {
        this.head += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.head = 0;
    }
  }
}

interface Held {
  seq: number;
  data: Uint8Array;
}

export class ReceiveBuffer {
  private ready: Uint8Array[] = [];
  /** Bytes ready to read. */
  readyBytes = 0;
  /** Segments past rcvNxt, sorted by sequence number, not overlapping. */
  private held: Held[] = [];
  /** Where the peer's FIN is, once a FIN arrived (maybe ahead of a hole). */
  finSeq: number | undefined;

  constructor(
    readonly capacity: number,
    /** The next sequence number expected (RCV.NXT). */
    public rcvNxt: number,
  ) {}

  /** Free space: the window to advertise. */
  get window(): number {
    return Math.max(0, this.capacity - this.readyBytes);
  }

  get heldSegments(): number {
    return this.held.length;
  }

  /**
   * Data at `seq` (already trimmed to start at or after rcvNxt and to end inside the window).
   * Returns how far rcvNxt moved: 0 for a segment that went into the out-of-order queue.
   */
  accept(seq: number, data: Uint8Array): number {
    if (data.length === 0) return 0;
    // Kept as given, not copied: a received frame belongs to the stack (NetDevice.onFrame).
    if (seqGt(seq, this.rcvNxt)) {
      this.hold(seq, data);
      return 0;
    }
    const before = this.rcvNxt;
    this.append(data);
    // Whatever was held and is now reached moves over, trimmed of what we already have.
    while (this.held.length > 0 && seqLe(this.held[0]!.seq, this.rcvNxt)) {
      const h = this.held.shift()!;
      const skip = seqDiff(this.rcvNxt, h.seq);
      if (skip < h.data.length) this.append(h.data.subarray(skip));
    }
    return seqDiff(this.rcvNxt, before);
  }

  private append(data: Uint8Array): void {
    this.ready.push(data);
    this.readyBytes += data.length;
    this.rcvNxt = seqAdd(this.rcvNxt, data.length);
  }

  /** Inserts an out-of-order segment, keeping the list sorted and free of overlap. */
  private hold(seq: number, data: Uint8Array): void {
    let i = 0;
    while (i < this.held.length && seqLt(this.held[i]!.seq, seq)) i++;
    // Trim against the one before (it may cover our start) and the ones after (we may cover them).
    const prev = this.held[i - 1];
    if (prev) {
      const overlap = seqDiff(seqAdd(prev.seq, prev.data.length), seq);
      if (overlap >= data.length) return; // all of it is held already
      if (overlap > 0) {
        seq = seqAdd(seq, overlap);
        data = data.subarray(overlap);
      }
    }
    const end = seqAdd(seq, data.length);
    while (i < this.held.length && seqLe(seqAdd(this.held[i]!.seq, this.held[i]!.data.length), end))
      this.held.splice(i, 1); // wholly covered by the new one
    const next = this.held[i];
    if (next && seqLt(next.seq, end)) data = data.subarray(0, seqDiff(next.seq, seq));
    this.held.splice(i, 0, { seq, data });
  }

  /** The next chunk to read, at most `max` bytes, or undefined when nothing is ready. */
  read(max = Infinity): Uint8Array | undefined {
    const c = this.ready[0];
    if (!c) return undefined;
    if (c.length <= max) {
      this.ready.shift();
      this.readyBytes -= c.length;
      return c;
    }
    this.ready[0] = c.subarray(max);
    this.readyBytes -= max;
    return c.subarray(0, max);
  }
}
