/**
 * A virtual CPU: its page (realm/vcpu-page.ts: the trap register block pvkit_vcpu_regs and the
 * supervisor's status block, one machine frame shared with the domain's worker), what it is waiting
 * for and its timers. The trap service reads the block only
 * while `state` is TRAPPED; anything in it may have been written by the worker at any moment, so it
 * is read once and checked (the dispatcher validates every argument). CPU time is the domain's real
 * event-loop activity (cpu.ts), not the time between traps.
 */
import { PVKIT_TRAP_DOORBELL_WORD, PVKIT_TRAP_MAIL_WORD } from "@pvkit/abi/layout";
import type { Frame } from "../gnttab/host.ts";
import { MailWriter } from "../realm/mail-ring.ts";
import { vcpuPageViews, WAIT_MODE, WaitMode, type VcpuPageViews } from "../realm/vcpu-page.ts";
import type { HostTimer } from "../time/host-timer.ts";
import type { Domain } from "./domain.ts";

export class Vcpu {
  /** The register block, as 32-bit words and as 64-bit registers. */
  readonly words: Int32Array;
  readonly big: BigUint64Array;
  /** The wake block's words: how the guest sleeps (WAIT_MODE), read after every answer. */
  readonly wakeWords: Int32Array;
  /** The supervisor's status block: sleep in traps, checkpoints, measured memory, thread id. */
  readonly statusViews: { big: BigInt64Array; words: Int32Array };
  /** Where frames handed over after boot go (realm/mail-ring.ts). */
  readonly mailbox: MailWriter;
  /** Every view of the page (the host block among them: a cell writes its worker's activity there). */
  readonly pageViews: VcpuPageViews;
  /** A call the handler is still working on (SCHEDOP_block, SCHEDOP_poll). */
  inFlight = false;
  /**
   * Ends a SCHEDOP_block/poll in flight (set by its handler while it waits; the block's answer is
   * 0): an event, its timeout or a wake request calls it.
   */
  wake?: () => void;
  /** Ports a SCHEDOP_poll waits on. */
  pollPorts?: readonly number[];
  /** The timeout of the block in flight (SCHEDOP_poll's), if it has one. */
  blockTimer?: HostTimer;
  singleshot?: HostTimer;
  periodic?: HostTimer;
  /** Guest watchdogs armed with SCHEDOP_watchdog: id → timer. */
  readonly watchdogs = new Map<number, HostTimer>();
  /** Traps served (statistics). */
  traps = 0;
  /** When the trap service last handed it a result (performance.now()): is it calling back to back? */
  lastPost = -Infinity;
  /**
   * Wakes the guest after its trap was answered: V8's Atomics.notify for a worker in this process;
   * a cell replaces it with its futex or bell wake (realm/wakes.ts). Returns whether the guest was
   * asleep (a wake was needed), as opposed to still spinning for the answer.
   */
  wakeGuest: () => boolean = () =>
    // A spinning guest needs no notify, which takes V8's waiter lock (realm/wakes.ts says why
    // this read sees a guest that is going to sleep).
    Atomics.load(this.wakeWords, WAIT_MODE) !== WaitMode.none && Atomics.notify(this.words, 0) > 0;
  /** The guest's wake-request counter as last seen (regs.doorbell). */
  wakeRequests = 0;
  /** A wake request seen while no call was in flight: it ends the next block (trap-service.ts). */
  wakePending = false;

  /** @param page the vCPU's page, a machine frame the hypervisor owns (realm/vcpu-page.ts). */
  constructor(
    readonly domain: Domain,
    readonly id: number,
    readonly page: Frame,
  ) {
    const v = vcpuPageViews(page.buffer);
    this.pageViews = v;
    this.words = v.words;
    this.big = v.big;
    this.wakeWords = v.wake;
    this.statusViews = v.status;
    this.mailbox = new MailWriter(page.buffer);
  }

  /**
   * Runs `then` as the block in flight ends, before `wake` returns: the trap service answers the
   * trap there and the tracer ends its span, rather than a promise reaction later. Returns whether
   * a block was in flight.
   */
  whenUnblocked(then: () => void): boolean {
    const end = this.wake;
    if (!end) return false;
    this.wake = () => {
      end();
      then();
    };
    return true;
  }

  /** Drops what a block in flight left on the vCPU: its timeout, its wake, its poll ports. */
  forgetBlock(): void {
    this.blockTimer?.cancel();
    this.blockTimer = this.wake = this.pollPorts = undefined;
  }

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

  /** CPU time in ns: the worker's real activity so far. */
  cpuTime(): bigint {
    return BigInt(Math.round(this.domain.cpu.activeMs * 1e6));
  }

  clearTimers(): void {
    // A block in flight ends with the vCPU: nothing may answer it later, when its page may already
    // be another domain's.
    this.forgetBlock();
    this.singleshot?.cancel();
    this.periodic?.cancel();
    this.singleshot = this.periodic = undefined;
    for (const t of this.watchdogs.values()) t.cancel();
    this.watchdogs.clear();
  }
}
