/**
 * The hypercall instruction, as the supervisor of a domain's worker executes it: fill the vCPU's
 * register block (pvkit_vcpu_regs), store TRAPPED, ring the machine doorbell, wait for DONE —
 * spinning briefly (the hypervisor usually answers within a microsecond), then sleeping. trapAsync
 * sleeps with Atomics.waitAsync so the worker's event loop keeps running (timers, dom0's sockets).
 *
 * A trap that found the trap service asleep does not spin: the answer is a wake-up away (tens of
 * microseconds), and a thread that spins through it holds a core the kernel may have chosen for the
 * very thread it just woke — Linux puts a woken thread on its waker's core when it can. Spinning
 * there made an idle null hypercall take ~100 µs instead of ~40.
 *
 * A notify needs no answer, so it need not wait for one: post() stores the trap, rings and returns,
 * and the vCPU's next trap collects the answer before it stores its own ("Posted notifies" in
 * docs/hypervisor.md).
 *
 * This runs in the domain's worker but outside the guest's realm: a domU never sees the register
 * block or the doorbell, only the trap functions of its machine. Rule: one call in flight per vCPU;
 * a new call while an async one (SCHEDOP_block) waits ends that wait first, as an interrupt ends hlt,
 * and a new call while a posted one is unanswered waits for that answer first.
 */
import { CHECKPOINTS, SLEEPING_SINCE, SLEPT_NS, vcpuPageViews } from "./vcpu-page.ts";
import { wakeSampler } from "./doze.ts";
import { localWakes, type Wakes } from "./wakes.ts";
import {
  PVKIT_TRAP_DOORBELL_WORD,
  PVKIT_TRAP_DONE,
  PVKIT_TRAP_IDLE,
  PVKIT_TRAP_MAIL_WORD,
  PVKIT_TRAP_TRAPPED,
} from "@pvkit/abi/layout";

/** Spin iterations before sleeping (a few tens of microseconds). */
const SPIN = 2000;

export class TrapTransport {
  private readonly words: Int32Array;
  private readonly big: BigUint64Array;
  private readonly wakes: Wakes;
  /** The supervisor's status block (status.ts): time asleep in traps (a thread asleep in
   * Atomics.wait is busy to its event loop but idle to the machine) and the checkpoint count. */
  private readonly status: BigInt64Array;
  private readonly statusWords: Int32Array;
  /** The sampler words: a wake from a sleep ends the activity sampler's doze (doze.ts). */
  private readonly sampler: Int32Array;
  private mailSeen = 0;
  /** An async trap (SCHEDOP_block) still waiting; a new trap on this vCPU must end it first. */
  private pendingAsync: { done: boolean; result: bigint } | null = null;
  /**
   * A posted trap whose answer is not collected yet: whether its ring found the trap service asleep
   * (undefined: none in flight). Two states in one field, so a notify allocates nothing.
   */
  private postedRang: boolean | undefined = undefined;
  /** Ends trapAsync's wait early: interruptBlock took the block's result while it waited. */
  private endAsyncWait: (() => void) | null = null;
  /** Traps made (the supervisor's memory gate piggybacks on them). */
  count = 0;

  /**
   * @param onMail called after a trap when the hypervisor posted frames to the worker's port.
   * @param onTrap called after every trap (bookkeeping that must not wait for the event loop).
   */
  /**
   * @param vcpuPage the vCPU's page (registers and status block, vcpu-page.ts)
   * @param doorbell the frame whose first words are the machine doorbell (wakes.ts)
   * @param wakes how this worker and the hypervisor wake each other (wakes.ts); by default, as
   *   threads of one process
   */
  constructor(
    vcpuPage: SharedArrayBuffer,
    doorbell: SharedArrayBuffer,
    private readonly hrtime: () => bigint,
    private readonly onMail: () => void,
    private readonly onTrap: () => void = () => undefined,
    wakes?: Wakes,
  ) {
    const v = vcpuPageViews(vcpuPage);
    this.words = v.words;
    this.big = v.big;
    ({ big: this.status, words: this.statusWords } = v.status);
    this.sampler = v.sampler;
    this.wakes = wakes ?? localWakes(v.words, v.wake, new Int32Array(doorbell, 0, 2));
  }

  /** Sleeps until the hypervisor posts a result (or 100 ms pass), recording the time asleep. */
  private sleep(): void {
    const t0 = this.hrtime();
    Atomics.store(this.status, SLEEPING_SINCE, t0);
    this.wakes.sleep(100);
    Atomics.store(this.status, SLEEPING_SINCE, 0n);
    Atomics.add(this.status, SLEPT_NS, this.hrtime() - t0);
    wakeSampler(this.sampler);
  }

  private enter(op: number, a0: bigint, a1: bigint, a2: bigint, a3: bigint, a4: bigint): boolean {
    if (Atomics.load(this.words, 0) !== PVKIT_TRAP_IDLE)
      throw new Error("hypercall while another is in progress on this vCPU");
    this.words[1] = op;
    this.big[1] = a0;
    this.big[2] = a1;
    this.big[3] = a2;
    this.big[4] = a3;
    this.big[5] = a4;
    Atomics.store(this.words, 0, PVKIT_TRAP_TRAPPED);
    return this.wakes.ringDoorbell();
  }

  /**
   * Waits until the hypervisor has answered: spinning `spin` passes (none when a wake-up is coming
   * anyway, -1 to sleep at once), then sleeping.
   */
  private awaitDone(spin: number): void {
    for (let i = 0; Atomics.load(this.words, 0) !== PVKIT_TRAP_DONE; i++) {
      if (i > spin) this.sleep();
    }
  }

  private leave(): bigint {
    const r = BigInt.asIntN(64, this.big[6]!);
    Atomics.store(this.words, 0, PVKIT_TRAP_IDLE);
    this.count++;
    this.statusWords[CHECKPOINTS]!++; // the hypervisor only needs to see it move: no Atomics needed
    const mail = Atomics.load(this.words, PVKIT_TRAP_MAIL_WORD);
    if (mail !== this.mailSeen) {
      this.mailSeen = mail;
      this.onMail();
    }
    this.onTrap();
    return r;
  }

  /**
   * A vCPU blocked in SCHEDOP_block cannot also make a hypercall. In a JS worker the event loop runs
   * while the block is pending, so kernel code may want one (dom0's host I/O wakes a task): ask the
   * hypervisor to end the block (the wake word), wait for its result and keep it for the blocked
   * caller, then go on. A real CPU would have taken an interrupt.
   */
  private interruptBlock(): void {
    const p = this.pendingAsync!;
    Atomics.add(this.words, PVKIT_TRAP_DOORBELL_WORD, 1);
    this.wakes.ringDoorbell();
    this.awaitDone(-1);
    this.pendingAsync = null;
    p.result = this.leave();
    p.done = true;
    // The blocked caller waits for a wake that will not come now (in a cell, the hypervisor woke
    // this synchronous sleep by futex, not the bell the async wait listens on): end its wait here.
    this.endAsyncWait?.();
  }

  /**
   * A trap whose answer nobody reads (the machine posts only EVTCHNOP_send): stored and rung, and
   * this returns at once. A trap that finds the service asleep keeps its caller waiting through two
   * wake-ups — the service's, then its own thread's — 100-200 µs on this machine; a backend that has
   * answered one request and notified its frontend has the next request to copy meanwhile.
   */
  post(op: number, a0: bigint, a1: bigint, a2: bigint, a3: bigint, a4: bigint): void {
    if (this.pendingAsync) this.interruptBlock();
    if (this.postedRang !== undefined) this.collectPosted();
    this.postedRang = this.enter(op, a0, a1, a2, a3, a4);
  }

  /** Waits for the posted trap's answer (by now, usually there) and drops it. */
  private collectPosted(): void {
    this.awaitDone(this.postedRang ? 0 : SPIN);
    this.postedRang = undefined;
    this.leave();
  }

  trap(op: number, a0: bigint, a1: bigint, a2: bigint, a3: bigint, a4: bigint): bigint {
    if (this.pendingAsync) this.interruptBlock();
    if (this.postedRang !== undefined) this.collectPosted();
    this.awaitDone(this.enter(op, a0, a1, a2, a3, a4) ? 0 : SPIN);
    return this.leave();
  }

  async trapAsync(op: number, a0: bigint, a1: bigint, a2: bigint, a3: bigint, a4: bigint): Promise<bigint> {
    if (this.pendingAsync) this.interruptBlock();
    if (this.postedRang !== undefined) this.collectPosted();
    this.enter(op, a0, a1, a2, a3, a4);
    const p = { done: false, result: 0n };
    this.pendingAsync = p;
    for (let i = 0; !p.done && Atomics.load(this.words, 0) !== PVKIT_TRAP_DONE; i++) {
      if (i > SPIN / 10) {
        const w = this.wakes.waitAsync();
        if (!w) continue;
        // A pending waitAsync does not keep a worker's event loop alive; a timer does, so a vCPU
        // blocked in SCHEDOP_block is not mistaken for a finished thread.
        const keepAlive = setInterval(() => {}, 1 << 30);
        await Promise.race([w, new Promise<void>((r) => (this.endAsyncWait = r))]);
        this.endAsyncWait = null;
        clearInterval(keepAlive);
        wakeSampler(this.sampler); // the worker was idle; it runs again
      }
    }
    if (p.done) return p.result;
    this.pendingAsync = null;
    return this.leave();
  }
}
