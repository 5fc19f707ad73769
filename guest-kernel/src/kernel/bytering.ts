/**
 * A byte ring in shared memory with free-running u32 indices: the shape of both the console
 * (xencons_interface) and xenstore (xenstore_domain_interface) rings. One side produces, the other
 * consumes; each writes only its own index. Callers must keep to their side: a producer never
 * touches `cons`, a consumer never touches `prod`, and the data area size is a power of two.
 */

/** Where one direction of a byte ring sits inside its page. */
export interface ByteRingLayout {
  /** Offset of the data area and its size (a power of two). */
  readonly data: number;
  readonly size: number;
  /** Offsets of the u32 consumer and producer indices. */
  readonly cons: number;
  readonly prod: number;
}

/**
 * One direction of a byte ring over a page. Indices are read and written with Atomics when the page
 * is shared memory: the seq-cst load/store is the barrier Xen's ring code spells as rmb()/wmb(), so a
 * peer that sees the new `prod` also sees the bytes written before it.
 */
export class ByteRing {
  private readonly bytes: Uint8Array;
  private readonly idx: Int32Array | null;
  private readonly view: DataView;

  constructor(
    page: DataView,
    readonly layout: ByteRingLayout,
  ) {
    if (layout.size <= 0 || (layout.size & (layout.size - 1)) !== 0) {
      throw new RangeError(`byte ring size ${layout.size} is not a power of two`);
    }
    this.view = page;
    this.bytes = new Uint8Array(page.buffer, page.byteOffset, page.byteLength);
    // Atomics need an Int32Array on a SharedArrayBuffer; a plain buffer (a test) uses the DataView.
    const shared = typeof SharedArrayBuffer !== "undefined" && page.buffer instanceof SharedArrayBuffer;
    this.idx = shared ? new Int32Array(page.buffer, page.byteOffset, page.byteLength >> 2) : null;
  }

  private load(off: number): number {
    return this.idx ? Atomics.load(this.idx, off >> 2) >>> 0 : this.view.getUint32(off, true);
  }

  private store(off: number, value: number): void {
    if (this.idx) Atomics.store(this.idx, off >> 2, value | 0);
    else this.view.setUint32(off, value >>> 0, true);
  }

  /**
   * Bytes waiting to be consumed. A peer that publishes prod - cons > size is broken or hostile;
   * we report it as 0 (nothing trustworthy to read) and the caller sees `corrupt`.
   */
  available(): number {
    const n = (this.load(this.layout.prod) - this.load(this.layout.cons)) >>> 0;
    return n > this.layout.size ? 0 : n;
  }

  /** The indices disagree in a way no correct peer produces (prod - cons > size). */
  corrupt(): boolean {
    return (this.load(this.layout.prod) - this.load(this.layout.cons)) >>> 0 > this.layout.size;
  }

  /** Free space for the producer. */
  space(): number {
    const used = (this.load(this.layout.prod) - this.load(this.layout.cons)) >>> 0;
    return used > this.layout.size ? 0 : this.layout.size - used;
  }

  /**
   * Producer: copy as much of `src` as fits, then publish the new prod. Returns bytes written.
   * Data first, index second: the index store is the release that makes the data visible.
   */
  write(src: Uint8Array): number {
    const { data, size, prod } = this.layout;
    const p = this.load(prod);
    const n = Math.min(src.length, this.space());
    for (let i = 0; i < n; i++) this.bytes[data + ((p + i) & (size - 1))] = src[i];
    if (n > 0) this.store(prod, (p + n) >>> 0);
    return n;
  }

  /**
   * Consumer: copy out up to `max` bytes, then publish the new cons. The bytes are copied once
   * into a private buffer, so the peer rewriting the ring afterwards cannot change what we parse.
   */
  read(max = this.layout.size): Uint8Array {
    const { data, size, cons } = this.layout;
    const c = this.load(cons);
    const n = Math.min(max, this.available());
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.bytes[data + ((c + i) & (size - 1))];
    if (n > 0) this.store(cons, (c + n) >>> 0);
    return out;
  }

  /** The consumer index as it stands: where the next read() begins. */
  consIndex(): number {
    return this.load(this.layout.cons);
  }

  /**
   * Whether the producer has filled the ring counting from consumer index `from` (prod - from ≥
   * size). Asked after a read from `from` has published its new `cons`, it catches a producer that
   * filled the ring while the read ran and now waits for room: asked before the read, it would not.
   */
  filledFrom(from: number): boolean {
    return (this.load(this.layout.prod) - from) >>> 0 >= this.layout.size;
  }

  /** Consumer: look at up to `max` waiting bytes without consuming them. */
  peek(max: number): Uint8Array {
    const { data, size, cons } = this.layout;
    const c = this.load(cons);
    const n = Math.min(max, this.available());
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.bytes[data + ((c + i) & (size - 1))];
    return out;
  }
}
