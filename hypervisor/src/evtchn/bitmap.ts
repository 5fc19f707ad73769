/**
 * The 2-level event bitmaps of one domain's shared_info page, as the hypervisor touches them.
 * The guest clears pending bits, sets mask bits and clears pending_sel / upcall_pending from its own
 * thread at the same time, so every read-modify-write here is an Atomics op on the u64 word the C
 * layout defines (BigUint64Array, the same width the guest uses: no mixed-size atomics).
 */
import {
  EVTCHN_WORD_BITS,
  SHINFO_EVTCHN_MASK,
  SHINFO_EVTCHN_PENDING,
  VCPU_INFO_PENDING_SEL,
  VCPU_INFO_SIZE,
  VCPU_INFO_UPCALL_PENDING,
} from "./consts.ts";

/** 1n << i for i in 0..63, precomputed so the send path allocates no BigInts. */
const BIT: readonly bigint[] = Array.from({ length: 64 }, (_, i) => 1n << BigInt(i));
const ALL = 0xffff_ffff_ffff_ffffn;

/** Atomic bit operations on one shared_info page, following Xen's 2-level rules. */
export class SharedInfoBits {
  private readonly words: BigUint64Array;
  private readonly bytes: Uint8Array;

  /** `page` must be a whole, 8-byte aligned view of the shared_info frame. */
  constructor(page: DataView) {
    if (page.byteOffset % 8 !== 0 || page.byteLength < 4096) {
      throw new RangeError("shared_info must be a whole, 8-byte aligned 4096-byte page");
    }
    this.words = new BigUint64Array(page.buffer, page.byteOffset, 512);
    this.bytes = new Uint8Array(page.buffer, page.byteOffset, 4096);
  }

  private static pendingWord(port: number): number {
    return SHINFO_EVTCHN_PENDING / 8 + Math.floor(port / EVTCHN_WORD_BITS);
  }
  private static maskWord(port: number): number {
    return SHINFO_EVTCHN_MASK / 8 + Math.floor(port / EVTCHN_WORD_BITS);
  }
  private static selWord(vcpu: number): number {
    return (vcpu * VCPU_INFO_SIZE + VCPU_INFO_PENDING_SEL) / 8;
  }

  /** Whether `port`'s pending bit is set. */
  isPending(port: number): boolean {
    return (Atomics.load(this.words, SharedInfoBits.pendingWord(port)) & BIT[port % 64]) !== 0n;
  }

  /** Whether `port`'s mask bit is set (only the guest sets it). */
  isMasked(port: number): boolean {
    return (Atomics.load(this.words, SharedInfoBits.maskWord(port)) & BIT[port % 64]) !== 0n;
  }

  /** Sets the pending bit; returns true when it went 0 -> 1 (test_and_set_bit). */
  testAndSetPending(port: number): boolean {
    const bit = BIT[port % 64];
    return (Atomics.or(this.words, SharedInfoBits.pendingWord(port), bit) & bit) === 0n;
  }

  /** Clears the pending bit (a port being freed must not stay pending for its next owner). */
  clearPending(port: number): void {
    Atomics.and(this.words, SharedInfoBits.pendingWord(port), ALL ^ BIT[port % 64]);
  }

  /** Clears the mask bit; returns true when it was set (test_and_clear_bit). */
  testAndClearMask(port: number): boolean {
    const bit = BIT[port % 64];
    return (Atomics.and(this.words, SharedInfoBits.maskWord(port), ALL ^ bit) & bit) !== 0n;
  }

  /**
   * Marks word port/64 in `vcpu`'s evtchn_pending_sel, then raises evtchn_upcall_pending.
   * Returns true when the upcall flag went 0 -> 1: only then does the vCPU need a kick, because a
   * vCPU whose flag is already up has not yet scanned and will find this port too.
   */
  raise(port: number, vcpu: number): boolean {
    const sel = BIT[Math.floor(port / EVTCHN_WORD_BITS)];
    const prev = Atomics.or(this.words, SharedInfoBits.selWord(vcpu), sel);
    if ((prev & sel) !== 0n) return false; // already selected: an upcall is already on its way
    return Atomics.exchange(this.bytes, vcpu * VCPU_INFO_SIZE + VCPU_INFO_UPCALL_PENDING, 1) === 0;
  }

  /** Whether `vcpu`'s evtchn_upcall_pending is set (SCHEDOP_block checks it before sleeping). */
  upcallPending(vcpu: number): boolean {
    return Atomics.load(this.bytes, vcpu * VCPU_INFO_SIZE + VCPU_INFO_UPCALL_PENDING) !== 0;
  }
}
