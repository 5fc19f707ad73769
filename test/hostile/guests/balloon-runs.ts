/**
 * A raw guest that balloons out the middle of its memory and keeps the run buffer those pages came
 * in. Its memory reaches it as runs (one SharedArrayBuffer over consecutive frames), so after
 * decrease_reservation the buffer still spans the pages it gave back. It marks them first, gives
 * them back, waits for the test's signal (VIRQ_DEBUG) — meanwhile a victim with a secret boots and
 * the hypervisor hands out memory — then scans its whole run for the secret and checks that its
 * given-back pages still hold its marks (nobody else was given them, nobody wrote them), and last
 * populates them again (it gets its own frames back, scrubbed).
 */
import { DOMID_SELF, VIRQ_DEBUG } from "@pvkit/abi/layout";
import { PAGE, arg, hc, memory, poweroff, report, waitPort } from "../../guests/raw.ts";

const first = Number(arg("first"));
const count = Number(arg("count"));
const MARK = 0xa5;

// The run that holds our first ballooned page: its whole buffer, as a hostile guest would keep it.
const page = memory.page(first);
const run = new Uint8Array(page.buffer);
report({
  phase: "run",
  runPages: run.length / PAGE,
  pageBytes: page.byteLength,
  offsetPages: page.byteOffset / PAGE,
});

/**
 * Runs a memory_op over pfns first .. first+count-1, its extent list on our page 5; a call may do
 * fewer than asked (the mail ring's room), so go on from where it stopped until one does nothing.
 */
function memop(op: "populatePhysmap" | "decreaseReservation"): number {
  let done = 0;
  for (let n = -1; n !== 0 && done < count; done += n) {
    const batch = Array.from({ length: Math.min(512, count - done) }, (_, i) => BigInt(first + done + i));
    memory.write(5 * PAGE, new Uint8Array(new BigUint64Array(batch).buffer));
    n = hc.memoryOp[op]({
      extent_start: BigInt(5 * PAGE),
      nr_extents: BigInt(batch.length),
      extent_order: 0,
      domid: DOMID_SELF,
    });
  }
  return done;
}

for (let i = 0; i < count; i++) memory.write((first + i) * PAGE, new Uint8Array(PAGE).fill(MARK));
const ballooned = memop("decreaseReservation");
let refused = false;
try {
  memory.page(first); // the kernel's view of a given-back page is gone ...
} catch {
  refused = true;
}
report({ phase: "ballooned", ballooned, refused });

const debug = hc.eventChannelOp.bindVirq({ virq: VIRQ_DEBUG, vcpu: 0 }).port;
report({ phase: "waiting" });
await waitPort(debug);

// ... but the run's buffer still reaches it: what is there now?
const needle = new TextEncoder().encode("pvkit-secret-");
let found = 0;
for (
  let i = run.indexOf(needle[0]!);
  i >= 0 && i <= run.length - needle.length;
  i = run.indexOf(needle[0]!, i + 1)
)
  if (needle.every((x, j) => run[i + j] === x)) found++;
const start = page.byteOffset;
let marked = 0;
for (let i = 0; i < count; i++) {
  const bytes = run.subarray(start + i * PAGE, start + (i + 1) * PAGE);
  if (bytes.every((b) => b === MARK)) marked++;
}
const regrew = memop("populatePhysmap");
let scrubbed = 0;
for (let i = 0; i < count; i++) if (memory.read((first + i) * PAGE, PAGE).every((b) => b === 0)) scrubbed++;
report({ phase: "scanned", found, marked, regrew, scrubbed });
poweroff();
