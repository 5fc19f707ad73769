/**
 * A virtual CPU: its trap register block (pvkit_vcpu_regs in a SharedArrayBuffer shared with the
 * domain's worker), what it is waiting for, its timers and its CPU time. The trap service reads the
 * block only while `state` is TRAPPED, i.e. while the guest is not touching it.
 */
import { PVKIT_TRAP_DOORBELL_WORD, PVKIT_TRAP_MAIL_WORD, PvkitVcpuRegs } from "@pvkit/abi/layout";
import type { Domain } from "./domain.ts";

export class Vcpu {
  readonly regs = new SharedArrayBuffer(PvkitVcpuRegs.size);
  readonly words = new Int32Array(this.regs);
  readonly big = new BigUint64Array(this.regs);
  /** A call the handler is still working on (SCHEDOP_block, SCHEDOP_poll). */
  inFlight = false;
  /** Resolves a blocked SCHEDOP_block/poll when an event arrives. */
  wake?: () => void;
  /** Ports a SCHEDOP_poll waits on. */
  pollPorts?: readonly number[];
  singleshot?: NodeJS.Timeout;
  periodic?: NodeJS.Timeout;
  /** Guest watchdogs armed with SCHEDOP_watchdog: id → timer. */
  readonly watchdogs = new Map<number, NodeJS.Timeout>();
  /** CPU accounting: ns spent not blocked, and since when the current stretch runs. */
  cpuNs = 0n;
  runningSince?: bigint;
  /** performance.now() of the last trap: the hang watchdog compares against it. */
  lastTrap = performance.now();
  traps = 0;
  /** The guest's wake-request counter as last seen (regs.doorbell). */
  wakeRequests = 0;

  constructor(
    readonly domain: Domain,
    readonly id: number,
  ) {}

  /** Argument register i (0-based). */
  arg(i: number): bigint {
    return this.big[1 + i]!;
  }

  get op(): number {
    return this.words[1]! >>> 0;
  }

  /** Tells the guest frames are waiting on its port. */
  mail(): void {
    Atomics.add(this.words, PVKIT_TRAP_MAIL_WORD, 1);
  }

  get doorbellTraps(): number {
    return Atomics.load(this.words, PVKIT_TRAP_DOORBELL_WORD);
  }

  startClock(now: bigint): void {
    if (this.runningSince === undefined) this.runningSince = now;
  }

  stopClock(now: bigint): void {
    if (this.runningSince !== undefined) this.cpuNs += now - this.runningSince;
    this.runningSince = undefined;
  }

  cpuTime(now: bigint): bigint {
    return this.cpuNs + (this.runningSince !== undefined ? now - this.runningSince : 0n);
  }

  clearTimers(): void {
    clearTimeout(this.singleshot);
    clearInterval(this.periodic);
    for (const t of this.watchdogs.values()) clearTimeout(t);
    this.watchdogs.clear();
  }
}
