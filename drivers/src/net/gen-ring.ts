/**
 * vmxnet's rings: an array of fixed-size descriptors in one shared page, with no shared index at
 * all. Whose a descriptor is, is said by its generation bit (bit 15 of the `flags` word, the last
 * 16 bits of every descriptor): the producer writes the descriptor, then its flags with its current
 * generation; the consumer owns the slot while that bit equals its own generation. Both sides flip
 * their generation each time their index wraps, so a slot left from the previous lap never looks
 * new. This is vmxnet3's design; it needs no index the peer could lie about, only descriptors,
 * which the consumer copies out once and checks.
 *
 * The flags word is written with Atomics.store and read with Atomics.load: in JavaScript's memory
 * model that orders the plain writes of the other fields before it, as a release/acquire pair.
 */
import type { StructCodec } from "@pvkit/abi";

const GEN = 1 << 15;

interface Slots {
  view: DataView;
  bytes: Uint8Array;
  words: Uint16Array;
  entries: number;
  size: number;
  /** Offset of `flags` in a descriptor (its last two bytes). */
  flagsAt: number;
}

function slots(page: DataView, entries: number, size: number): Slots {
  if (entries * size > page.byteLength)
    throw new RangeError(`${entries} × ${size} B does not fit in the page`);
  return {
    view: page,
    bytes: new Uint8Array(page.buffer, page.byteOffset, entries * size),
    words: new Uint16Array(page.buffer, page.byteOffset, (entries * size) / 2),
    entries,
    size,
    flagsAt: size - 2,
  };
}

/** The side that fills descriptors (frontend: tx and rx command rings; backend: completions). */
export class GenProducer<T extends { flags: number }> {
  private readonly s: Slots;
  private idx = 0;
  private gen = 1;

  constructor(
    page: DataView,
    entries: number,
    private readonly codec: StructCodec<T>,
  ) {
    this.s = slots(page, entries, codec.size);
  }

  /** Index of the next slot put() fills. */
  get next(): number {
    return this.idx;
  }

  get entries(): number {
    return this.s.entries;
  }

  /**
   * Writes `desc` into the next slot with the current generation and moves on. With `publish`
   * false the flags word is left with the old generation so the peer does not see it yet (a
   * frame's first descriptor, published last with publishAt()). Returns the slot's index.
   */
  put(desc: T, publish = true): { index: number; flags: number } {
    const { words, size, flagsAt } = this.s;
    const index = this.idx;
    const flags = (desc.flags & ~GEN) | (this.gen ? GEN : 0);
    // Straight into the slot, flags word included but with last lap's generation, so the consumer
    // still sees the slot as not ready; then the flags word alone, which hands the slot over.
    const given = desc.flags;
    desc.flags = flags ^ GEN;
    this.codec.encode(this.s.view, index * size, desc);
    desc.flags = given;
    if (publish) Atomics.store(words, (index * size + flagsAt) / 2, flags);
    this.idx++;
    if (this.idx === this.s.entries) {
      this.idx = 0;
      this.gen ^= 1;
    }
    return { index, flags };
  }

  /** Publishes a slot written with put(desc, false): stores its flags word (generation included). */
  publishAt(index: number, flags: number): void {
    Atomics.store(this.s.words, (index * this.s.size + this.s.flagsAt) / 2, flags);
  }
}

/** The side that takes descriptors (backend: command rings; frontend: completions). */
export class GenConsumer<T> {
  private readonly s: Slots;
  private idx = 0;
  private gen = 1;
  private readonly scratch: Uint8Array;
  private readonly scratchView: DataView;

  constructor(
    page: DataView,
    entries: number,
    private readonly codec: StructCodec<T>,
  ) {
    this.s = slots(page, entries, codec.size);
    this.scratch = new Uint8Array(codec.size);
    this.scratchView = new DataView(this.scratch.buffer);
  }

  get next(): number {
    return this.idx;
  }

  get entries(): number {
    return this.s.entries;
  }

  /** Whether the next slot is ours (its generation bit is our generation). */
  ready(): boolean {
    const { words, size, flagsAt } = this.s;
    const flags = Atomics.load(words, (this.idx * size + flagsAt) / 2);
    return ((flags & GEN) !== 0) === (this.gen === 1);
  }

  /** Whether the next `n` slots are all ours (a frame needs them all before any is taken). */
  readyCount(n: number): boolean {
    if (n > this.s.entries) return false;
    const { words, size, flagsAt, entries } = this.s;
    for (let k = 0, i = this.idx, gen = this.gen; k < n; k++) {
      const flags = Atomics.load(words, (i * size + flagsAt) / 2);
      if (((flags & GEN) !== 0) !== (gen === 1)) return false;
      if (++i === entries) {
        i = 0;
        gen ^= 1;
      }
    }
    return true;
  }

  /** The next descriptor, copied out once, or undefined when the producer has not filled it. */
  take(): { index: number; desc: T } | undefined {
    if (!this.ready()) return undefined;
    const { bytes, size } = this.s;
    const index = this.idx;
    // One copy into our own scratch bytes; everything after reads the copy, never the ring.
    this.scratch.set(bytes.subarray(index * size, index * size + size));
    this.idx++;
    if (this.idx === this.s.entries) {
      this.idx = 0;
      this.gen ^= 1;
    }
    return { index, desc: this.codec.decode(this.scratchView, 0) };
  }
}
