/**
 * The host relay: the thread in the hypervisor's process that wakes the trap service for guests in
 * cells. The service sleeps in Atomics.waitAsync on the doorbell, which only a notify from this
 * process ends; a guest in a cell rings the doorbell and, when the service says it sleeps, wakes
 * this thread through a futex on the doorbell frame's relay word (realm/wakes.ts); the thread then
 * notifies, with the very buffer the service waits on. Bundled and run as an eval'd Worker.
 */
import { workerData } from "node:worker_threads";
import { DOORBELL_COUNT, DOORBELL_RELAY } from "../realm/wakes.ts";

const { addon, doorbell } = workerData as { addon: string; doorbell: SharedArrayBuffer };
const futex = require(addon) as {
  wait(sab: SharedArrayBuffer, off: number, expected: number, ms?: number): string;
};
const words = new Int32Array(doorbell, 0, 4);

/**
 * One round: sleep on the relay word until it moves past what was handled, then notify. The word is
 * compared with the last value handled, never read afresh before sleeping: a ring that came between
 * two rounds would be taken as already seen, and its wake lost. Between rounds the event loop runs,
 * so a terminate is taken; the futex wait's timeout bounds how long that waits.
 */
let handled = Atomics.load(words, DOORBELL_RELAY);
function round(): void {
  if (Atomics.load(words, DOORBELL_RELAY) === handled)
    futex.wait(doorbell, DOORBELL_RELAY * 4, handled, 1000);
  const now = Atomics.load(words, DOORBELL_RELAY);
  if (now !== handled) {
    handled = now;
    Atomics.notify(words, DOORBELL_COUNT);
  }
  setImmediate(round);
}
round();
