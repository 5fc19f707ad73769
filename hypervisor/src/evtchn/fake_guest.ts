/**
 * A minimal guest vCPU in a real Worker, for tests and benchmarks of event delivery: it runs the
 * 2-level upcall loop (clear upcall_pending, swap pending_sel, clear each pending bit, run) on its
 * own thread against the shared_info page, exactly as a guest kernel would, racing the hypervisor.
 * Rule: test/bench only. It is plain JS evaluated in the worker, so it imports no hypervisor code.
 */
import { Worker } from "node:worker_threads";

/** Int32 slots of the control buffer. */
export const CTL = {
  /** Incremented by the host's kick(); the idle guest Atomics.waits on it. */
  doorbell: 0,
  /** Set to 1 to stop the guest. */
  stop: 1,
  /** Incremented (and notified) by every handler run. */
  handled: 2,
  /** Per port p: [COUNT + p] handler runs; [SNAP + p] the value of [PROD + p] the handler saw. */
  COUNT: 16,
  SNAP: 16 + 4096,
  PROD: 16 + 8192,
  SIZE: 16 + 3 * 4096,
} as const;

const SOURCE = `
const { workerData, parentPort } = require("node:worker_threads");
const { shared, ctl, busy, vcpu } = workerData;
const words = new BigUint64Array(shared);
const bytes = new Uint8Array(shared);
const c = new Int32Array(ctl);
const ALL = 0xffffffffffffffffn;
const lowest = (v) => {
  const lo = Number(v & 0xffffffffn);
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Number(v >> 32n);
  return 63 - Math.clz32(hi & -hi);
};
const up = vcpu * 64, selIndex = vcpu * 8 + 1;
function dispatch() {
  Atomics.store(bytes, up, 0);
  let sel = Atomics.exchange(words, selIndex, 0n);
  while (sel !== 0n) {
    const w = lowest(sel);
    sel &= ~(1n << BigInt(w));
    let ready = Atomics.load(words, 256 + w) & ~Atomics.load(words, 320 + w);
    while (ready !== 0n) {
      const b = lowest(ready);
      const bit = 1n << BigInt(b);
      ready &= ~bit;
      Atomics.and(words, 256 + w, ALL ^ bit);
      const port = w * 64 + b;
      Atomics.store(c, ${CTL.SNAP} + port, Atomics.load(c, ${CTL.PROD} + port));
      Atomics.add(c, ${CTL.COUNT} + port, 1);
      Atomics.add(c, ${CTL.handled}, 1);
      Atomics.notify(c, ${CTL.handled});
    }
  }
}
parentPort.postMessage("ready");
while (Atomics.load(c, ${CTL.stop}) === 0) {
  const bell = Atomics.load(c, ${CTL.doorbell});
  if (Atomics.load(bytes, up) !== 0) { dispatch(); continue; }
  if (!busy) Atomics.wait(c, ${CTL.doorbell}, bell, 50);
}
`;

/** A running fake guest vCPU. */
export class FakeGuestVcpu {
  readonly ctl = new Int32Array(new SharedArrayBuffer(CTL.SIZE * 4));
  private readonly worker: Worker;
  /** Resolves once the worker runs its loop. */
  readonly ready: Promise<void>;

  /** `busy`: the guest spins instead of sleeping on the doorbell (halt-polling forever). */
  constructor(sharedInfo: DataView, opts: { busy: boolean; vcpu?: number }) {
    this.worker = new Worker(SOURCE, {
      eval: true,
      workerData: { shared: sharedInfo.buffer, ctl: this.ctl.buffer, busy: opts.busy, vcpu: opts.vcpu ?? 0 },
    });
    this.ready = new Promise((resolve, reject) => {
      this.worker.once("message", () => resolve());
      this.worker.once("error", reject);
    });
  }

  /** What the host's kick() does for this vCPU: ring the doorbell and wake the waiter. */
  kick(): void {
    Atomics.add(this.ctl, CTL.doorbell, 1);
    Atomics.notify(this.ctl, CTL.doorbell);
  }

  /** Stops the worker and waits for it to exit. */
  async stop(): Promise<void> {
    Atomics.store(this.ctl, CTL.stop, 1);
    this.kick();
    await this.worker.terminate();
  }
}
