/**
 * A vCPU's page: one machine frame, shared by the hypervisor and the supervisor of the domain's
 * worker (never handed to the guest). It holds
 *   @0    the trap register block, pvkit_vcpu_regs (64 bytes, the ABI's)
 *   @64   the supervisor's status block (32 bytes): what the hypervisor cannot see from outside a
 *         worker — how long its thread slept inside synchronous traps (asleep, not working), whether
 *         guest code keeps passing the supervisor's checkpoints (traps and callbacks, where the memory
 *         gate looks), the memory it last measured, and its OS thread id.
 *   @96   the host block (16 bytes): the worker's work and idleness, for a worker in a cell written
 *         by the cell's main thread (the hypervisor cannot ask another process's worker)
 *   @112  the mail ring's head: prod and cons (mail-ring.ts)
 *   @120  the sampler words (8 bytes): whether the worker's activity sampler dozes, and how often
 *         the worker woke (doze.ts)
 *   @128  the wake block (a cache line of its own): how the supervisor sleeps, which the hypervisor
 *         reads after every answer (realm/wakes.ts)
 *   @192  the mail ring's entries, to the end of the page
 *
 * Why the wake block has a line to itself: a busy vCPU's trap is a conversation through shared
 * cache lines, and every line both sides touch moves between their cores at least twice per call
 * (~100 ns each on this machine). The register block must; the wake block is written only when the
 * supervisor sleeps, so while both are busy it stays in both caches. When the sleep word shared the
 * status block's line, which the supervisor writes at every trap (CHECKPOINTS), a busy null
 * hypercall in a cell took 0.98-1.01 µs, and 0.83-0.85 once the word moved here (docs/hypervisor.md,
 * "The trap").
 */

export const REGS_OFFSET = 0;
export const REGS_BYTES = 64;
export const STATUS_OFFSET = 64;
export const STATUS_BYTES = 32;

export const MAIL_HEAD_OFFSET = 112;
export const SAMPLER_OFFSET = 120;
export const WAKE_OFFSET = 128;
export const WAKE_BYTES = 64;
export const MAIL_OFFSET = 192;
export const MAIL_ENTRY_BYTES = 16;
export const MAIL_ENTRIES = (4096 - MAIL_OFFSET) / MAIL_ENTRY_BYTES;
/**
 * Where the mail ring's free-running prod and cons wrap: a multiple of MAIL_ENTRIES below 2^32, so
 * an entry's slot (counter % MAIL_ENTRIES) runs on unbroken across the wrap. Wrapping at 2^32, which
 * MAIL_ENTRIES does not divide, would have moved the slots after four billion entries.
 */
export const MAIL_WRAP = MAIL_ENTRIES * 2 ** 24;

/** BigInt64 index in the status block: total ns asleep in completed synchronous waits. */
export const SLEPT_NS = 0;
/** BigInt64 index: hrtime of the current synchronous wait, or 0. */
export const SLEEPING_SINCE = 1;
/** Int32 index in the status block: bumped at every trap and every entry into guest code. */
export const CHECKPOINTS = 4;
/** Int32 index: heap used + ArrayBuffers at the gate's last measurement, in KiB. */
export const MEASURED_KIB = 5;
/** Int32 index: the worker thread's OS thread id (Linux; 0 elsewhere), for its page-fault count. */
export const THREAD_ID = 6;

/** Int32 index in the wake block: how the supervisor sleeps right now (realm/wakes.ts), a WaitMode. */
export const WAIT_MODE = 0;
/**
 * How a sleeping supervisor is woken: not at all (it spins, or runs), by the addon's futex on the
 * register block's state word or by its cell's bell (in a cell), or by Atomics.notify on that word
 * (in Atomics.wait or waitAsync, in the hypervisor's process).
 */
export const WaitMode = { none: 0, futex: 1, bell: 2, atomics: 3 } as const;

/** The host block: the worker's work and idleness, written by the process that runs it. */
export const HOST_OFFSET = 96;
/** Float64 indices in the host block: ms working and ms idle since the worker started (activity()). */
export const HOST_WORKING_MS = 0;
export const HOST_IDLE_MS = 1;

/** Int32 indices in the sampler words (doze.ts): 1 while the sampler dozes; the worker's wake-ups. */
export const SAMPLER_DOZING = 0;
export const SAMPLER_WAKES = 1;

/** Milliseconds the worker has slept in synchronous traps so far, the current sleep included. */
export function sleptMs(status: BigInt64Array): number {
  const since = Atomics.load(status, SLEEPING_SINCE);
  const slept = Atomics.load(status, SLEPT_NS) + (since > 0n ? process.hrtime.bigint() - since : 0n);
  return Number(slept) / 1e6;
}

/**
 * A worker's work and idleness since it started, in ms, from its event-loop utilization (time not
 * idle in its event loop) and its status block: the time its thread slept inside a synchronous trap
 * (Atomics.wait in the supervisor while the hypervisor has not answered, as a paused domain's
 * pending trap does) is busy to the event loop but idle to the machine, so it is taken off. Both are
 * read at one instant — in the process the worker runs in — so the difference is never skewed.
 */
export function workerActivity(elu: { active: number; idle: number }, status: BigInt64Array) {
  return { working: Math.max(0, elu.active - sleptMs(status)), idle: elu.idle };
}

export interface VcpuPageViews {
  /** The register block as 32-bit words (state, op, ..., doorbell, mail) and as 64-bit registers. */
  words: Int32Array;
  big: BigUint64Array;
  /** The status block. */
  status: { big: BigInt64Array; words: Int32Array };
  /** The host block. */
  host: Float64Array;
  /** The sampler words (doze.ts). */
  sampler: Int32Array;
  /** The wake block's words (WAIT_MODE). */
  wake: Int32Array;
}

/** Typed views of a vCPU page. */
export function vcpuPageViews(page: SharedArrayBuffer): VcpuPageViews {
  return {
    words: new Int32Array(page, REGS_OFFSET, REGS_BYTES / 4),
    big: new BigUint64Array(page, REGS_OFFSET, REGS_BYTES / 8),
    status: {
      big: new BigInt64Array(page, STATUS_OFFSET, 2),
      words: new Int32Array(page, STATUS_OFFSET, STATUS_BYTES / 4),
    },
    host: new Float64Array(page, HOST_OFFSET, 2),
    sampler: new Int32Array(page, SAMPLER_OFFSET, 2),
    wake: new Int32Array(page, WAKE_OFFSET, WAKE_BYTES / 4),
  };
}
