/**
 * A cell's relay: the thread that passes the hypervisor's wake-ups on to the cell's worker. V8's
 * Atomics.notify does not cross processes, and a worker that waits for its hypercall with its event
 * loop free (SCHEDOP_block) waits in Atomics.waitAsync on its vCPU page; so the hypervisor bumps the
 * page's relay bell and wakes this thread with a futex, and the relay — in the worker's process,
 * with the very buffer the worker waits on — calls Atomics.notify. Bundled into a script of its own
 * and run as an eval'd Worker.
 *
 * Rule: the relay's view of the page is made by the cell's main thread and passed to it (a notify
 * finds a waiter only through the backing store it waits on). Its event loop never runs: it only
 * sleeps on the bell and notifies.
 */
import { workerData } from "node:worker_threads";
import { RELAY_ASLEEP, RELAY_BELL, RELAY_BELL_OFFSET, vcpuPageViews } from "../realm/vcpu-page.ts";

const { addon, page } = workerData as { addon: string; page: SharedArrayBuffer };
const futex = require(addon) as {
  wait(sab: SharedArrayBuffer, off: number, expected: number, ms?: number): string;
};
const { words, relay } = vcpuPageViews(page);

/**
 * The relay's life. It says it is asleep before it looks at the bell once more (realm/wakes.ts): a
 * ring while it was going to sleep is then either seen here or followed by a futex wake. It starts
 * from 0, not from the bell's value, so a ring before the thread started is passed on too (a
 * spurious notify is harmless: the worker looks at its state again). The cell ends the relay by
 * ending its process; the futex wait's timeout only bounds a terminate.
 */
let handled = 0;
for (;;) {
  Atomics.store(relay, RELAY_ASLEEP, 1);
  if (Atomics.load(relay, RELAY_BELL) === handled)
    futex.wait(page, RELAY_BELL_OFFSET + RELAY_BELL * 4, handled, 1000);
  Atomics.store(relay, RELAY_ASLEEP, 0);
  const bell = Atomics.load(relay, RELAY_BELL);
  if (bell !== handled) {
    handled = bell;
    Atomics.notify(words, 0);
  }
}
