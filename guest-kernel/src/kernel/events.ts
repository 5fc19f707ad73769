/**
 * Event channels, guest side: the upcall dispatcher over shared_info's 2-level bitmaps and the
 * per-port handler table. The hypervisor sets bits concurrently from another thread, so every
 * read-modify-write here is an Atomics operation. A handler runs with its port's pending bit
 * already cleared (a new event during the handler is not lost) and must not block.
 */
import type { XenOps } from "./hypervisor.ts";
import { EVTCHN_WORDS, EVTCHN_WORD_BITS, NR_EVENT_CHANNELS, SHARED_INFO, VCPU_INFO } from "./xen.ts";

/** Called with the port that fired. */
export type EventHandler = (port: number) => void;

export class Events {
  private readonly words: BigUint64Array; // the whole shared_info page as u64s
  private readonly bytes: Uint8Array;
  private readonly handlers = new Map<number, EventHandler>();
  private readonly vcpuBase: number;
  private selfPort = -1;
  /** Events that arrived on a port with no handler (counted, then dropped). */
  unhandled = 0;
  /** Total events dispatched, per port (for `ps`/diagnostics). */
  readonly counts = new Map<number, number>();
  /** Told about a handler that threw; the dispatcher carries on with the next port. */
  onError: (port: number, err: unknown) => void = () => undefined;

  constructor(
    sharedInfo: DataView,
    private readonly ops: XenOps,
    readonly vcpu = 0,
  ) {
    if (sharedInfo.byteOffset % 8 !== 0 || sharedInfo.byteLength < 4096) {
      throw new RangeError("shared_info must be a whole, 8-byte aligned page");
    }
    this.words = new BigUint64Array(sharedInfo.buffer, sharedInfo.byteOffset, 512);
    this.bytes = new Uint8Array(sharedInfo.buffer, sharedInfo.byteOffset, 4096);
    this.vcpuBase = vcpu * VCPU_INFO.size;
    // Start with every port masked, as Mini-OS does: a port raises upcalls only once bound to a
    // handler (bind() unmasks, and anything already pending is raised then: unmask()).
    for (let w = 0; w < EVTCHN_WORDS; w++) Atomics.store(this.words, this.maskWord(w), 0xffffffffffffffffn);
  }

  private static checkPort(port: number): void {
    if (!Number.isInteger(port) || port <= 0 || port >= NR_EVENT_CHANNELS) {
      throw new RangeError(`event channel port ${port} out of range`);
    }
  }

  private pendingWord(w: number): number {
    return SHARED_INFO.evtchnPending / 8 + w;
  }
  private maskWord(w: number): number {
    return SHARED_INFO.evtchnMask / 8 + w;
  }

  /** Installs `handler` for `port` and unmasks it (pending events then get delivered). */
  bind(port: number, handler: EventHandler): void {
    Events.checkPort(port);
    this.handlers.set(port, handler);
    this.unmask(port);
  }

  /** Masks `port` and forgets its handler. Does not close it. */
  unbind(port: number): void {
    this.mask(port);
    this.handlers.delete(port);
  }

  /** Binds a VIRQ of this vCPU to a new port with `handler`. Returns the port. */
  bindVirq(virq: number, handler: EventHandler): number {
    const port = this.ops.evtchnBindVirq(virq, this.vcpu);
    this.bind(port, handler);
    return port;
  }

  /** Connects to a peer's unbound port and installs `handler`. Returns the local port. */
  bindInterdomain(remoteDom: number, remotePort: number, handler: EventHandler): number {
    const port = this.ops.evtchnBindInterdomain(remoteDom, remotePort);
    this.bind(port, handler);
    return port;
  }

  /** Allocates a port `remoteDom` may bind to (a front end's side of a device channel). */
  allocUnbound(remoteDom: number, handler: EventHandler): number {
    const port = this.ops.evtchnAllocUnbound(remoteDom);
    this.bind(port, handler);
    return port;
  }

  /** Unbinds and closes the port. */
  close(port: number): void {
    this.unbind(port);
    this.ops.evtchnClose(port);
  }

  /**
   * Kicks the remote end of `port`. Posted where the machine can (XenOps.evtchnNotify): a ring's
   * producer goes on with its work while the hypervisor delivers the event.
   */
  notify(port: number): void {
    if (this.ops.evtchnNotify) this.ops.evtchnNotify(port);
    else this.ops.evtchnSend(port);
  }

  /** Sets the mask bit: the hypervisor still marks the port pending but raises no upcall. */
  mask(port: number): void {
    Events.checkPort(port);
    const { w, bit } = portBit(port);
    Atomics.or(this.words, this.maskWord(w), bit);
  }

  /**
   * Clears the mask bit, as Linux does for a port of its own vCPU: in shared_info, with no
   * hypercall, unless the port turned pending while it was masked. The mask bit is cleared first
   * and pending read after, so a port that turns pending in between is either seen here or finds
   * the mask clear and is raised by the hypervisor as usual. One found pending had its upcall
   * withheld: it is masked again and EVTCHNOP_unmask clears it, raising the upcall it missed (and
   * ending a SCHEDOP_block this vCPU may be in, which a bit set here could not). Every bind
   * unmasks, so this is one trap fewer per port bound — a quarter of a pooled domU's boot traps.
   */
  unmask(port: number): void {
    Events.checkPort(port);
    const { w, bit } = portBit(port);
    Atomics.and(this.words, this.maskWord(w), ~bit & 0xffffffffffffffffn);
    if ((Atomics.load(this.words, this.pendingWord(w)) & bit) === 0n) return;
    Atomics.or(this.words, this.maskWord(w), bit);
    this.ops.evtchnUnmask(port);
  }

  /** Whether the upcall flag is up: something may be waiting for dispatch(). */
  hasPending(): boolean {
    return Atomics.load(this.bytes, this.vcpuBase + VCPU_INFO.upcallPending) !== 0;
  }

  /**
   * The upcall: clear evtchn_upcall_pending first (so a bit set while we scan re-raises it),
   * swap pending_sel to 0, and for each selected word deliver the pending and unmasked ports,
   * clearing each pending bit before its handler runs. Returns how many events ran.
   */
  dispatch(): number {
    Atomics.store(this.bytes, this.vcpuBase + VCPU_INFO.upcallPending, 0);
    const selIndex = (this.vcpuBase + VCPU_INFO.pendingSel) / 8;
    let sel = Atomics.exchange(this.words, selIndex, 0n);
    let ran = 0;
    while (sel !== 0n) {
      const w = lowestBit(sel);
      sel &= ~(1n << BigInt(w));
      if (w >= EVTCHN_WORDS) continue;
      const pend = Atomics.load(this.words, this.pendingWord(w));
      let ready = pend & ~Atomics.load(this.words, this.maskWord(w));
      while (ready !== 0n) {
        const b = lowestBit(ready);
        const bit = 1n << BigInt(b);
        ready &= ~bit;
        Atomics.and(this.words, this.pendingWord(w), ~bit & 0xffffffffffffffffn);
        this.run(w * EVTCHN_WORD_BITS + b);
        ran++;
      }
    }
    return ran;
  }

  private run(port: number): void {
    this.counts.set(port, (this.counts.get(port) ?? 0) + 1);
    const h = this.handlers.get(port);
    if (!h) {
      this.unhandled++;
      return;
    }
    try {
      h(port);
    } catch (e) {
      this.onError(port, e);
    }
  }

  /**
   * Waits for an event: SCHEDOP_block unless one is already flagged. Xen checks for pending events
   * inside the hypercall, so an event that lands between our check and the block is not lost.
   */
  async idle(): Promise<void> {
    if (this.hasPending()) return;
    await this.ops.block();
  }

  /**
   * A port this domain can send to itself (an IPI to our own vCPU): code outside the kernel's loop
   * (dom0's host I/O callbacks) calls kick() to make a blocked idle() return.
   */
  kick(): void {
    if (this.selfPort < 0) {
      this.selfPort = this.ops.evtchnBindIpi(this.vcpu);
      this.bind(this.selfPort, () => undefined);
    }
    this.ops.evtchnSend(this.selfPort);
  }
}

/** `port`'s word in the 2-level bitmaps and its bit in that word. */
function portBit(port: number): { w: number; bit: bigint } {
  return { w: Math.floor(port / EVTCHN_WORD_BITS), bit: 1n << BigInt(port % EVTCHN_WORD_BITS) };
}

/** Index of the lowest set bit of a non-zero 64-bit value. */
export function lowestBit(v: bigint): number {
  const lo = Number(v & 0xffffffffn);
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Number((v >> 32n) & 0xffffffffn);
  return 32 + 31 - Math.clz32(hi & -hi);
}
