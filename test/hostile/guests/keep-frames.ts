/**
 * A raw guest that keeps the SharedArrayBuffers of every frame it gives back. It cycles
 * populate_physmap / decrease_reservation many times (hoping for fresh frames each time, and keeping
 * them all), waits for the test's signal (VIRQ_DEBUG) — meanwhile a victim boots with a secret on its
 * command line — and then scans every buffer it ever held for the secret.
 */
import { DOMID_SELF, VIRQ_DEBUG } from "@pvkit/abi/layout";
import { PAGE, arch, arg, hc, memory, poweroff, report, waitPort } from "../../guests/raw.ts";

const cycles = Number(arg("cycles"));
const BATCH = 64;
const base = Number(arch.startInfo.nr_pages) + 16;
const kept = new Set<SharedArrayBuffer>();
let pagesKept = 0;

// The pfn list lives on a page of our own (pfn 5).
memory.write(
  5 * PAGE,
  new Uint8Array(new BigUint64Array(Array.from({ length: BATCH }, (_, i) => BigInt(base + i))).buffer),
);
const extents = {
  extent_start: BigInt(5 * PAGE),
  nr_extents: BigInt(BATCH),
  extent_order: 0,
  domid: DOMID_SELF,
};

let short = 0;
for (let c = 0; c < cycles; c++) {
  const got = hc.memoryOp.populatePhysmap(extents);
  if (got !== BATCH) short++;
  for (let i = 0; i < got; i++) {
    const page = memory.page(base + i);
    // A populate's pages come as runs (one buffer over consecutive frames): keep each run's whole
    // buffer, which is what a hostile guest would keep.
    if (!kept.has(page.buffer as SharedArrayBuffer)) pagesKept += page.buffer.byteLength / PAGE;
    kept.add(page.buffer as SharedArrayBuffer);
    new Uint8Array(page.buffer, page.byteOffset, PAGE).fill(0x5a); // dirty it: a reused frame must come back scrubbed
  }
  hc.memoryOp.decreaseReservation({ ...extents, nr_extents: BigInt(got) });
}
// Each hand-over deserializes a new SharedArrayBuffer object, so `kept` counts buffer objects and
// `pages` the pages they span; how many distinct frames are behind them only the hypervisor can say
// (the test asks it).
report({ phase: "cycled", buffers: kept.size, pages: pagesKept, short });

const debug = hc.eventChannelOp.bindVirq({ virq: VIRQ_DEBUG, vcpu: 0 }).port;
report({ phase: "waiting" });
await waitPort(debug);

const needle = new TextEncoder().encode("pvkit-secret-");
let found = 0;
for (const sab of kept) {
  const b = new Uint8Array(sab);
  for (
    let i = b.indexOf(needle[0]!);
    i >= 0 && i <= b.length - needle.length;
    i = b.indexOf(needle[0]!, i + 1)
  )
    if (needle.every((x, j) => b[i + j] === x)) found++;
}
report({ phase: "scanned", found });
poweroff();
