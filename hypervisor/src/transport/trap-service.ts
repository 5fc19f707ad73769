/**
 * The trap service: the hypervisor's side of every vCPU's register block. A guest traps by filling
 * op/args, storing TRAPPED and ringing the machine-wide doorbell. The service finds trapped vCPUs,
 * dispatches, posts the `long` result and wakes the guest. When busy it polls (cheap, microseconds);
 * after a short idle spin it sleeps on the doorbell with Atomics.waitAsync, so the host's event loop
 * (timers, worker exits) keeps running: KVM's halt-polling idea, applied to a JS thread. It polls
 * only after traps that promise more (a guest calling back to back, or still spinning for its
 * answer): after answering a guest that was asleep, polling would hold the core the guest was just
 * woken onto (realm/trap.ts says why), so it sleeps at once.
 *
 * Finding a trap must not cost a look at every vCPU of the machine: with hundreds of idle domains
 * that made each busy hypercall several times dearer. So the service polls a *hot set* — vCPUs
 * that trapped, asked for a wake or were handed an async result in the last HOT_MS — and counts:
 * every trap and every wake request rings the doorbell once, after it is visible in its register
 * block. If the passes found fewer than the doorbell moved, someone outside the hot set rang, and a
 * full scan finds them (and adds them to the hot set). The count is a hint, never trusted: it lives
 * in a frame every worker maps, so a worker that escaped its realm can move it both ways. Moved up,
 * it costs full scans (what every pass used to do); moved down or held still, it could hide a trap,
 * so a full scan also runs every BACKSTOP_MS while busy and after any wake that found nothing, and
 * the service's sleep ends after SLEEP_BACKSTOP_MS even if nobody rang (a worker can also clear the
 * _asleep_ word, so that guests in cells think it awake). So a forged count delays others' traps by
 * at most that, never loses them; and correctness never depends on it: the service only ever acts
 * on what it reads from a vCPU's own block.
 *
 * That backstop is a full scan, and a full scan of a thousand vCPUs — each block in a page of its
 * own, none in cache after a quiet while — cost ~0.4 ms: ten a second were a tenth of what a host of
 * a thousand idle domains spent. So once nothing has trapped or rung for QUIET_AFTER_MS, the sleep
 * lasts up to QUIET_SLEEP_BACKSTOP_MS instead — unless the doorbell shows a forger's hand: the
 * _asleep_ word found cleared on waking (only the service writes it) or the count gone backwards.
 * Either keeps the short backstop for FORGERY_MEMORY_MS after it was last seen. What a forger can
 * still do unseen is hold the count still at the very moment the service goes to sleep, so that a
 * guest of this process's notify falls before the wait: that trap waits up to a second. (So can
 * one sleep after a forgery is seen: a wait left pending by a bell's ring keeps the deadline it was
 * made with.)
 */
import { PVKIT_TRAP_DONE, PVKIT_TRAP_DOORBELL_WORD, PVKIT_TRAP_TRAPPED } from "@pvkit/abi/layout";
import type { HandlerResult } from "@pvkit/abi";
import type { Vcpu } from "../domain/vcpu.ts";
import type { Frame } from "../gnttab/host.ts";
import { DOORBELL_ASLEEP, DOORBELL_COUNT } from "../realm/wakes.ts";

/** How long to keep polling after the last trap before sleeping (µs). */
export const SPIN_US = 50;
/** A vCPU that traps this soon after its last result calls back to back: worth polling for (ms). */
export const BACK_TO_BACK_MS = 0.2;
/** Most traps served before yielding to the event loop, so timers and I/O are never starved. */
const BATCH = 256;
/** A vCPU with no trap, wake request or async result for this long leaves the hot set (ms). */
export const HOT_MS = 50;
/** While busy, every vCPU is looked at at least this often, whatever the doorbell says (ms). */
export const BACKSTOP_MS = 10;
/** The longest the service sleeps without a ring while the host is in use (ms). */
export const SLEEP_BACKSTOP_MS = 100;
/** The longest it sleeps without a ring once the host has been quiet for QUIET_AFTER_MS (ms). */
export const QUIET_SLEEP_BACKSTOP_MS = 1000;
/** How long without a trap or a ring makes the host quiet (ms). */
export const QUIET_AFTER_MS = 1000;
/** How long a sign of a forged doorbell keeps the short backstop (ms). */
export const FORGERY_MEMORY_MS = 10_000;

export type Dispatch = (vcpu: Vcpu, op: number, args: bigint[]) => HandlerResult;

export class TrapService {
  /**
   * The machine-wide doorbell (the first words of a machine frame, realm/wakes.ts): guests add 1 and
   * notify after trapping; the service says in the next word when it sleeps, so a guest in another
   * process knows to wake it (through its cell's bell) and one that finds it awake does nothing more.
   */
  readonly doorbell: Int32Array;
  private readonly vcpus = new Set<Vcpu>();
  /**
   * vCPUs active in the last HOT_MS, polled on every pass (the rest only by full scans), each with
   * when it last had something to do (performance.now()).
   */
  private readonly hot = new Map<Vcpu, number>();
  /** The doorbell count as the previous pass read it. */
  private lastCount = 0;
  /**
   * Rings not yet matched by what passes found. It goes below zero too: a spinning service often
   * serves a trap between the guest's TRAPPED and its ring, and the ring then arrives already paid.
   */
  private unmatched = 0;
  private lastFullScan = 0;
  /** Set by kick() and add(): the next pass looks at every vCPU. */
  private fullScanDue = true;
  private running = false;
  /** Ends the service's current sleep: a bell's ring (ring()), or its wait on the doorbell settling. */
  private sleeper?: () => void;
  /** Whether a wait on the doorbell is pending (one may be left from an earlier sleep). */
  private localWait = false;
  private stopped = false;
  /**
   * Whether the traps found since the loop last looked promise more soon: a result went to a guest
   * still spinning for it, or a vCPU trapped within BACK_TO_BACK_MS of its last result.
   */
  private busyGuest = false;
  /** True while a trap is dispatched and answered. */
  private serving = false;
  /** The vCPUs whose blocks the trap being served ended: answered (0) once its caller has its own. */
  private readonly answersAfterCaller: Vcpu[] = [];
  /** performance.now() at the start of the current pass. */
  private passNow = 0;
  /** When a pass last found something (performance.now()): the host is quiet QUIET_AFTER_MS later. */
  private lastFound = 0;
  /** When the doorbell last showed a forger's hand (performance.now()), or -Infinity. */
  private forgedAt = -Infinity;
  /** Served traps, for benchmarks and `pvkit top`. */
  served = 0;
  /** Passes that looked at every vCPU (tests and benchmarks read it). */
  fullScans = 0;
  /** Times the doorbell was seen forged (tests read it). */
  forgeries = 0;

  /** @param doorbellFrame a machine frame whose first word is the doorbell, handed to every worker. */
  constructor(
    private readonly dispatch: Dispatch,
    readonly doorbellFrame: Frame,
  ) {
    this.doorbell = new Int32Array(doorbellFrame.buffer, 0, 2);
  }

  add(v: Vcpu): void {
    this.vcpus.add(v);
    this.fullScanDue = true;
  }

  remove(v: Vcpu): void {
    this.vcpus.delete(v);
    this.hot.delete(v);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    Atomics.add(this.doorbell, 0, 1);
    Atomics.notify(this.doorbell, 0);
  }

  /**
   * One look at one vCPU: takes its wake requests, serves its trap, and ends its block if a request
   * waits for one. Returns what it found (requests + traps), each of which rang the doorbell once.
   */
  private visit(v: Vcpu): number {
    // A paused domain's trap waits; kick() at unpause asks for a full scan that finds it.
    if (v.domain.paused) return 0;
    let found = 0;
    // The guest asks to end its own block early (it has work: a self-IPI without a trap). Like an
    // IPI, a request is sticky: one that finds no block in flight ends the next block at once, so
    // work the guest queued just before blocking is never slept on.
    const req = Atomics.load(v.words, PVKIT_TRAP_DOORBELL_WORD);
    if (req !== v.wakeRequests) {
      found++;
      v.wakeRequests = req;
      v.wakePending = true;
    }
    if (!v.inFlight && Atomics.load(v.words, 0) === PVKIT_TRAP_TRAPPED) {
      found++;
      this.serve(v);
    }
    if (v.wakePending && v.inFlight) {
      v.wakePending = false;
      v.wake?.();
    }
    return found;
  }

  /** Looks at every vCPU once; whoever had something to do joins the hot set. */
  private fullScan(now: number): number {
    this.fullScans++;
    this.fullScanDue = false;
    this.lastFullScan = now;
    let found = 0;
    for (const v of this.vcpus) {
      const n = this.visit(v);
      if (n > 0) {
        found += n;
        this.hot.set(v, now);
      }
    }
    return found;
  }

  /**
   * One pass: the hot set, then every vCPU if the doorbell moved more than passes have found, if
   * asked to, or if a backstop is due. Returns what it found; the doorbell count it started from is
   * left in lastCount.
   */
  private pass(afterSleep: boolean): number {
    const now = (this.passNow = performance.now());
    const count = Atomics.load(this.doorbell, DOORBELL_COUNT);
    const rang = (count - this.lastCount) | 0;
    if (rang < 0) this.forged(now); // only a forger counts backwards
    this.unmatched += rang;
    this.lastCount = count;
    let found = 0;
    for (const [v, lastActive] of this.hot) {
      const n = this.visit(v);
      if (n > 0) {
        found += n;
        this.hot.set(v, now);
      } else if (now - lastActive > HOT_MS) this.hot.delete(v);
    }
    this.unmatched -= found;
    if (
      this.unmatched > 0 ||
      this.fullScanDue ||
      (afterSleep && found === 0) ||
      now - this.lastFullScan > BACKSTOP_MS
    ) {
      const more = this.fullScan(now);
      found += more;
      // What a full scan did not find is not there (a paused domain's trap, a forged ring).
      this.unmatched = Math.min(this.unmatched - more, 0);
    }
    // Rings paid ahead come only from vCPUs caught between TRAPPED and their ring: hot ones.
    this.unmatched = Math.max(this.unmatched, -this.hot.size);
    if (found > 0 || rang !== 0) this.lastFound = now;
    return found;
  }

  private forged(now: number): void {
    this.forgeries++;
    this.forgedAt = now;
  }

  /** How long the next sleep may last without a ring (ms). */
  private sleepBackstop(now: number): number {
    const quiet = now - this.lastFound > QUIET_AFTER_MS && now - this.forgedAt > FORGERY_MEMORY_MS;
    return quiet ? QUIET_SLEEP_BACKSTOP_MS : SLEEP_BACKSTOP_MS;
  }

  private serve(v: Vcpu): void {
    v.traps++;
    if (this.passNow - v.lastPost < BACK_TO_BACK_MS) this.busyGuest = true;
    const op = v.op;
    const args = [v.arg(0), v.arg(1), v.arg(2), v.arg(3), v.arg(4)];
    this.serving = true;
    try {
      const r = this.dispatch(v, op, args);
      if (typeof r === "number") this.post(v, r);
      else this.answerLater(v, r);
    } finally {
      this.serving = false;
    }
    // Blocks this trap ended, answered now that its caller has its own answer.
    const ended = this.answersAfterCaller;
    for (let i = 0; i < ended.length; i++) this.postAsync(ended[i]!, 0);
    ended.length = 0;
  }

  /** A call answered later: SCHEDOP_block or poll, or a handler waiting for host I/O. */
  private answerLater(v: Vcpu, r: Promise<number>): void {
    v.inFlight = true;
    let settled = false;
    const settle = (n: number) => {
      if (settled) return;
      settled = true;
      // Only a block's end comes while a trap is served (a promise reaction cannot): its answer is 0.
      if (this.serving) this.answersAfterCaller.push(v);
      else this.postAsync(v, n);
    };
    // A block (SCHEDOP_block, SCHEDOP_poll) ends when someone calls v.wake, most often another
    // vCPU's EVTCHNOP_send, served in a pass of this very loop. Its answer, 0, is posted there and
    // then (right after the sender's own: a sender still spinning for its answer should not wait
    // through the ~10 µs a sleeping vCPU's wake-up costs its waker). Through the promise it would
    // wait until this loop next yields, which halt-polling puts off by SPIN_US or more: once in
    // each half of every round trip between two domains.
    v.whenUnblocked(() => settle(0));
    r.then(settle, () => settle(-14));
  }

  /** Writes the result and hands the block back to the guest. */
  post(v: Vcpu, result: number): void {
    v.inFlight = false;
    v.big[6] = BigInt.asUintN(64, BigInt(result));
    Atomics.store(v.words, 0, PVKIT_TRAP_DONE);
    v.lastPost = this.passNow;
    if (!v.wakeGuest()) this.busyGuest = true;
    this.served++;
  }

  /**
   * The result of a call that waited (SCHEDOP_block ended by an event): the vCPU runs again and will
   * trap soon, so it joins the hot set now rather than costing a full scan to be found.
   */
  private postAsync(v: Vcpu, result: number): void {
    // A vCPU the service no longer serves (its domain shut down or destroyed) gets no answer: its
    // page may already be another domain's.
    if (!this.vcpus.has(v)) return;
    this.passNow = performance.now(); // posted from the event loop, between passes
    this.hot.set(v, this.passNow);
    this.post(v, result);
  }

  /**
   * Arms a wait on the doorbell, which dom0's notify ends (and kick() and stop()); false if the
   * doorbell already moved past `seen`. Everything that needs the service rings or notifies, and
   * results of calls in flight are posted from the event loop, so an idle host wakes only when
   * something happens — and once per sleepBackstop(), against a forged doorbell. A wait a bell's
   * ring outran stays pending and serves the next sleep: any notify ends it, whatever count it was
   * made for. Its settling is heard once, here, not by each sleep it serves: a domU's traps end
   * most sleeps by bell, and a reaction added per sleep piled up on one wait for up to a second.
   */
  private armLocalWait(seen: number): boolean {
    if (this.localWait) return true;
    const timeout = this.sleepBackstop(performance.now());
    const w = Atomics.waitAsync(this.doorbell, DOORBELL_COUNT, seen, timeout);
    if (!w.async) return false;
    this.localWait = true;
    void w.value.then(() => {
      this.localWait = false;
      this.ring();
    });
    return true;
  }

  /**
   * A guest rang while the service slept (a cell's bell, or the service's own: realm/wakes.ts), or
   * its wait on the doorbell settled: the current sleep, if any, ends.
   */
  ring(): void {
    const sleeper = this.sleeper;
    this.sleeper = undefined;
    sleeper?.();
  }

  /** Re-checks every vCPU (paused ones too, after an unpause). */
  kick(): void {
    this.fullScanDue = true;
    Atomics.add(this.doorbell, 0, 1);
    Atomics.notify(this.doorbell, 0);
  }

  private async loop(): Promise<void> {
    let afterSleep = false;
    while (!this.stopped) {
      let served = 0;
      let idleSince = performance.now();
      // Busy phase: serve, and keep polling for SPIN_US after the last trap.
      for (;;) {
        const found = this.pass(afterSleep);
        const seen = this.lastCount;
        afterSleep = false;
        served += found;
        const busyGuest = this.busyGuest;
        this.busyGuest = false;
        if (found > 0 && busyGuest) idleSince = performance.now();
        else if (found > 0 || performance.now() - idleSince > SPIN_US / 1000) {
          // Idle: sleep until a guest rings. Say so first, then look once more (a guest rings first,
          // then reads the word: realm/wakes.ts).
          Atomics.store(this.doorbell, DOORBELL_ASLEEP, 1);
          if (Atomics.load(this.doorbell, DOORBELL_COUNT) === seen) {
            // dom0 notifies; a domU rings a bell (ring()): its cell's, or with cells off the
            // service's own.
            if (this.armLocalWait(seen)) {
              await new Promise<void>((r) => (this.sleeper = r));
              this.sleeper = undefined;
              afterSleep = true;
              // Only the service clears the word: cleared while it slept, someone forged it.
              if (Atomics.load(this.doorbell, DOORBELL_ASLEEP) === 0) this.forged(performance.now());
            }
          }
          Atomics.store(this.doorbell, DOORBELL_ASLEEP, 0);
          // Woken: the event loop has just run, so serve at once rather than after another turn.
          if (!afterSleep) break;
          idleSince = performance.now();
          continue;
        }
        if (served >= BATCH) break;
      }
      // Let timers, worker events and promise callbacks (in-flight calls) run.
      await new Promise<void>((r) => setImmediate(r));
    }
  }
}
