/**
 * The fuzzer's choices (test/hostile/guests/fuzz.ts): a seeded PRNG, the only source of them so a
 * seed replays the same calls, and the values that break handlers — edge registers, pointers into,
 * just past and far outside the guest's memory, random structs on its argument pages.
 */
import * as L from "@pvkit/abi/layout";
import { FOREIGN_BASE } from "@pvkit/guest-kernel/arch/memory";
import { PAGE, arch, arg, memory } from "../../guests/raw.ts";

export const SEED = Number(arg("seed")) >>> 0;
export const CALLS = Number(arg("calls"));

// ---- Choices: mulberry32, the only source of them, so a seed replays the same calls. ----

let state = SEED;
export function u32(): number {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), state | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}
export const below = (n: number): number => Math.floor((u32() / 2 ** 32) * n);
export const chance = (p: number): boolean => u32() < p * 2 ** 32;
export const pick = <T>(xs: readonly T[]): T => xs[below(xs.length)]!;
export const u64 = (): bigint => (BigInt(u32()) << 32n) | BigInt(u32());

// ---- Memory: pages 0..7 are the fuzzer's own and are never given back. ----

/** start_info (0), the unused ring pages (1, 2), the SDK's scratch page (3) and the fuzzer's (4..7). */
export const KEEP = 8;
/** Struct arguments: refilled with random bytes before every call that reads them. */
export const STRUCT = 4 * PAGE;
export const STRUCT_LEN = 3 * PAGE;
/** pfn lists for memory_op, and setup_table's frame list at start. */
export const LIST = 7 * PAGE;
export const NR_PAGES = Number(arch.startInfo.nr_pages);
export const SELF = arch.domid;
export const bytes = new Uint8Array(STRUCT_LEN);
export const words = new Uint32Array(bytes.buffer);
export const view = new DataView(bytes.buffer);
export const put16 = (at: number, v: number) => view.setUint16(at, v & 0xffff, true);
export const put32 = (at: number, v: number) => view.setUint32(at, v >>> 0, true);
export const put64 = (at: number, v: bigint) => view.setBigUint64(at, BigInt.asUintN(64, v), true);

/**
 * Writes `count` structs of `size` bytes (as many as fit in the struct pages) of random bytes, then,
 * most of the time, lets `craft` set the fields a handler checks to values near the valid ones.
 * Returns where they are.
 */
export function structs(size: number, count: number, craft?: (at: number) => void): bigint {
  const len = Math.min(size * count, STRUCT_LEN);
  for (let i = 0; i < (len + 3) >> 2; i++) words[i] = u32();
  if (craft && chance(0.75)) for (let at = 0; at + size <= len; at += size) craft(at);
  if (len > 0) memory.write(STRUCT, bytes.subarray(0, len));
  return BigInt(STRUCT);
}

/** One struct argument: usually in the struct pages, sometimes anywhere a register can point. */
export const struct = (size: number, craft?: (at: number) => void): bigint =>
  chance(0.85) ? structs(size, 1, craft) : pointer();

// ---- Values ----

export const U64_MAX = (1n << 64n) - 1n;
/** Register values at the edges of the types handlers convert them to. */
export const EDGES = [
  U64_MAX,
  1n << 63n,
  (1n << 63n) - 1n,
  1n << 32n,
  (1n << 32n) - 1n,
  1n << 31n,
  0xffffn,
  0x10000n,
  1n << 53n,
  (1n << 53n) + 1n,
  BigInt(L.DOMID_SELF),
  4095n,
  4096n,
];
/** Addresses no domain of this size has: the foreign-mapping window, past 2^53, the top page. */
export const FAR = [
  BigInt(FOREIGN_BASE),
  1n << 45n,
  (1n << 53n) - 1n,
  1n << 53n,
  BigInt(arch.maxPages * PAGE),
  U64_MAX - 4095n,
];

/** A page of ours (or just past our memory), at its start or anywhere in it. */
export const ownPointer = (): bigint => BigInt(below(NR_PAGES + 11) * PAGE + (chance(0.5) ? 0 : below(PAGE)));
export const farPointer = (): bigint => pick(FAR) + BigInt(below(PAGE));
export const pointer = (): bigint => (chance(0.5) ? ownPointer() : chance(0.5) ? farPointer() : reg());

/** Any register. */
export function reg(): bigint {
  switch (below(10)) {
    case 0:
      return 0n;
    case 1:
      return BigInt(below(64));
    case 2:
      return U64_MAX; // -1
    case 3:
      return 1n << 63n;
    case 4:
      return pick(EDGES);
    case 5:
    case 6:
      return ownPointer();
    case 7:
      return farPointer();
    case 8:
      return BigInt(STRUCT + below(STRUCT_LEN));
    default:
      return u64();
  }
}

/** A 32-bit field: small, at an edge, or anything. */
export const num = (): number =>
  pick([0, 1, below(64), below(64), 0x7fffffff, 0x80000000, 0xffffffff, u32()]);
/** A domain field: ourselves (by DOMID_SELF or number) half the time, else dom0, the bystander, others. */
export const OTHERS = [0, 1, 2, 3, L.DOMID_IO, L.DOMID_XEN, L.DOMID_INVALID, 0xffff];
export const domid = (): number =>
  chance(0.5) ? (chance(0.8) ? L.DOMID_SELF : SELF) : chance(0.8) ? pick(OTHERS) : below(0x10000);
/** A port: one we may have, or not. */
export const port = (): number => (chance(0.8) ? below(48) : pick([4095, 4096, 0xffffffff, u32()]));
/** A pfn for lists and grants: ours (or just past), beyond the quota, or not a pfn at all. */
export const pfn = (): bigint =>
  chance(0.85)
    ? BigInt(below(NR_PAGES + 11))
    : pick([BigInt(arch.maxPages + below(64)), 1n << 32n, 1n << 41n, U64_MAX, u64()]);
/** A system time: now-ish (the past, the near future), the far future, or nonsense. */
export const time = (): bigint =>
  pick([
    0n,
    1n,
    arch.tsc() - BigInt(below(1e9)),
    arch.tsc() + BigInt(below(1e9)),
    1n << 62n,
    1n << 63n,
    U64_MAX,
    u64(),
  ]);
/** A sub-op: a valid one most of the time. */
export const subop = (valid: readonly number[]): bigint => (chance(0.9) ? BigInt(pick(valid)) : reg());
