/**
 * The trap service: the hypervisor's side of every vCPU's register block. A guest traps by filling
 * op/args, storing TRAPPED and ringing the machine-wide doorbell. The service finds trapped vCPUs,
 * dispatches, posts the `long` result and wakes the guest. When busy it polls (cheap, microseconds);
 * after a short idle spin it sleeps on the doorbell with Atomics.waitAsync, so the host's event loop
 * (timers, worker exits) keeps running: KVM's halt-polling idea, applied to a JS thread.
 */
import { PVKIT_TRAP_DONE, PVKIT_TRAP_DOORBELL_WORD, PVKIT_TRAP_TRAPPED } from "@pvkit/abi/layout";
import type { HandlerResult } from "@pvkit/abi";
import type { Vcpu } from "../domain/vcpu.ts";
import type { Frame } from "../gnttab/host.ts";
import { DOORBELL_ASLEEP, DOORBELL_COUNT } from "../realm/wakes.ts";

/** How long to keep polling after the last trap before sleeping (µs). */
export const SPIN_US = 50;
/** Most traps served before yielding to the event loop, so timers and I/O are never starved. */
const BATCH = 256;

export type Dispatch = (vcpu: Vcpu, op: number, args: bigint[]) => HandlerResult;

export class TrapService {
  /**
   * The machine-wide doorbell (the first words of a machine frame, realm/wakes.ts): guests add 1 and
   * notify after trapping; the service says in the next word when it sleeps, so a guest in another
   * process knows to wake it (through its cell's bell) and one that finds it awake does nothing more.
   */
  readonly doorbell: Int32Array;
  private readonly vcpus = new Set<Vcpu>();
  private running = false;
  /** Ends the service's sleep when a guest in a cell rings (ring()). */
  private onRing?: () => void;
  /** The pending wait on the doorbell, if one is left from an earlier sleep. */
  private localWait?: Promise<unknown>;
  private stopped = false;
  /** Served traps, for benchmarks and `pvkit top`. */
  served = 0;

  /** @param doorbellFrame a machine frame whose first word is the doorbell, handed to every worker. */
  constructor(
    private readonly dispatch: Dispatch,
    readonly doorbellFrame: Frame,
  ) {
    this.doorbell = new Int32Array(doorbellFrame.buffer, 0, 2);
  }

  add(v: Vcpu): void {
    this.vcpus.add(v);
  }

  remove(v: Vcpu): void {
    this.vcpus.delete(v);
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

  /** Serves every trapped vCPU once; returns how many. */
  private scan(): number {
    let n = 0;
    for (const v of this.vcpus) {
      if (v.inFlight) {
        // The guest asks to end its own block early (it has work: a self-IPI without a trap).
        const req = Atomics.load(v.words, PVKIT_TRAP_DOORBELL_WORD);
        if (req !== v.wakeRequests) {
          v.wakeRequests = req;
          v.wake?.();
        }
        continue;
      }
      if (v.domain.paused) continue;
      if (Atomics.load(v.words, 0) !== PVKIT_TRAP_TRAPPED) continue;
      n++;
      this.serve(v);
    }
    return n;
  }

  private serve(v: Vcpu): void {
    v.traps++;
    const op = v.op;
    const args = [v.arg(0), v.arg(1), v.arg(2), v.arg(3), v.arg(4)];
    const r = this.dispatch(v, op, args);
    if (typeof r === "number") return this.post(v, r);
    v.inFlight = true;
    r.then(
      (n) => this.post(v, n),
      () => this.post(v, -14),
    );
  }

  /** Writes the result and hands the block back to the guest. */
  post(v: Vcpu, result: number): void {
    v.inFlight = false;
    v.big[6] = BigInt.asUintN(64, BigInt(result));
    Atomics.store(v.words, 0, PVKIT_TRAP_DONE);
    v.wakeGuest();
    this.served++;
  }

  /**
   * Sleeps on the doorbell until a guest of this process notifies; undefined if the doorbell already
   * moved past `seen`. No timeout: everything that needs the service rings (a trap, a wake request,
   * an unpause's kick(), stop()), and results of calls in flight are posted from the event loop, so
   * an idle host wakes only when something happens.
   */
  private waitLocal(seen: number): Promise<unknown> | undefined {
    const w = Atomics.waitAsync(this.doorbell, DOORBELL_COUNT, seen);
    if (!w.async) return undefined;
    return w.value.finally(() => (this.localWait = undefined));
  }

  /** A guest in a cell rang while the service slept (its cell's bell: realm/wakes.ts). */
  ring(): void {
    const wake = this.onRing;
    this.onRing = undefined;
    wake?.();
  }

  /** Re-checks paused vCPUs after an unpause. */
  kick(): void {
    Atomics.add(this.doorbell, 0, 1);
    Atomics.notify(this.doorbell, 0);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let served = 0;
      let idleSince = performance.now();
      // Busy phase: serve, and keep polling for SPIN_US after the last trap.
      for (;;) {
        const seen = Atomics.load(this.doorbell, 0);
        const n = this.scan();
        served += n;
        if (n > 0) idleSince = performance.now();
        else if (performance.now() - idleSince > SPIN_US / 1000) {
          // Idle: sleep until a guest rings. Say so first, then look once more (a guest rings first,
          // then reads the word: realm/wakes.ts).
          Atomics.store(this.doorbell, DOORBELL_ASLEEP, 1);
          if (Atomics.load(this.doorbell, DOORBELL_COUNT) === seen) {
            // A guest of this process notifies; one in a cell rings its bell (ring()). A wait that
            // a bell ended is left pending and serves the next sleep: any notify ends it, whatever
            // count it was made for.
            const local = (this.localWait ??= this.waitLocal(seen));
            if (local) {
              const rung = new Promise<void>((r) => (this.onRing = r));
              await Promise.race([local, rung]);
              this.onRing = undefined;
            }
          }
          Atomics.store(this.doorbell, DOORBELL_ASLEEP, 0);
          break;
        }
        if (served >= BATCH) break;
      }
      // Let timers, worker events and promise callbacks (in-flight calls) run.
      await new Promise<void>((r) => setImmediate(r));
    }
  }
}
