/**
 * The hypercall trap, guest side: the HypercallTransport the generated SDK calls. A trap fills the
 * vCPU's register block, marks it TRAPPED, rings the machine doorbell and waits for DONE — spinning
 * briefly (the hypervisor usually answers within microseconds), then sleeping. trapAsync sleeps with
 * Atomics.waitAsync so the worker's event loop keeps running (dom0's sockets, timers).
 */
import {
  PVKIT_TRAP_DOORBELL_WORD,
  PVKIT_TRAP_DONE,
  PVKIT_TRAP_IDLE,
  PVKIT_TRAP_MAIL_WORD,
  PVKIT_TRAP_TRAPPED,
} from "@pvkit/abi/layout";
import type { HypercallTransport } from "@pvkit/abi";
import type { PhysMemory } from "./memory.ts";

/** Spin iterations before sleeping (a few tens of microseconds). */
const SPIN = 2000;

export class VcpuTransport implements HypercallTransport {
  private readonly words: Int32Array;
  private readonly big: BigUint64Array;
  private readonly doorbell: Int32Array;
  private mailSeen = 0;
  /** An async trap (SCHEDOP_block) still waiting; a new trap on this vCPU must end it first. */
  private pendingAsync: { done: boolean; result: bigint } | null = null;

  constructor(
    regs: SharedArrayBuffer,
    doorbell: SharedArrayBuffer,
    readonly memory: PhysMemory,
    readonly scratch: { addr: number; size: number },
  ) {
    this.words = new Int32Array(regs);
    this.big = new BigUint64Array(regs);
    this.doorbell = new Int32Array(doorbell);
  }

  private enter(op: number, args: readonly bigint[]): void {
    if (Atomics.load(this.words, 0) !== PVKIT_TRAP_IDLE)
      throw new Error("hypercall while another is in progress on this vCPU");
    this.words[1] = op;
    for (let i = 0; i < 5; i++) this.big[1 + i] = args[i] ?? 0n;
    Atomics.store(this.words, 0, PVKIT_TRAP_TRAPPED);
    Atomics.add(this.doorbell, 0, 1);
    Atomics.notify(this.doorbell, 0, 1);
  }

  private leave(): bigint {
    const r = BigInt.asIntN(64, this.big[6]!);
    Atomics.store(this.words, 0, PVKIT_TRAP_IDLE);
    const mail = Atomics.load(this.words, PVKIT_TRAP_MAIL_WORD);
    if (mail !== this.mailSeen) {
      this.mailSeen = mail;
      this.memory.drain();
    }
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
    Atomics.add(this.doorbell, 0, 1);
    Atomics.notify(this.doorbell, 0, 1);
    while (Atomics.load(this.words, 0) !== PVKIT_TRAP_DONE)
      Atomics.wait(this.words, 0, PVKIT_TRAP_TRAPPED, 100);
    this.pendingAsync = null;
    p.result = this.leave();
    p.done = true;
  }

  trap(op: number, args: readonly bigint[]): bigint {
    if (this.pendingAsync) this.interruptBlock();
    this.enter(op, args);
    for (let i = 0; Atomics.load(this.words, 0) !== PVKIT_TRAP_DONE; i++) {
      if (i > SPIN) Atomics.wait(this.words, 0, PVKIT_TRAP_TRAPPED, 100);
    }
    return this.leave();
  }

  async trapAsync(op: number, args: readonly bigint[]): Promise<bigint> {
    if (this.pendingAsync) this.interruptBlock();
    this.enter(op, args);
    const p = { done: false, result: 0n };
    this.pendingAsync = p;
    for (let i = 0; !p.done && Atomics.load(this.words, 0) !== PVKIT_TRAP_DONE; i++) {
      if (i > SPIN / 10) {
        const w = Atomics.waitAsync(this.words, 0, PVKIT_TRAP_TRAPPED);
        if (!w.async) continue;
        // A pending waitAsync does not keep a worker's event loop alive; a timer does, so a vCPU
        // blocked in SCHEDOP_block is not mistaken for a finished thread.
        const keepAlive = setInterval(() => {}, 1 << 30);
        await w.value;
        clearInterval(keepAlive);
      }
    }
    if (p.done) return p.result;
    this.pendingAsync = null;
    return this.leave();
  }
}
