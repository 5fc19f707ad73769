// The pin's compare-and-swap against a real guest thread that grants and ends access to the same ref
// as fast as it can (16-bit cmpxchg on flags, like Linux and pvkit's guest kernel): a map that
// succeeds must find the grant still live for as long as it is mapped — end-access never wins then.
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import {
  DOMID_SELF,
  GNTMAP_host_map,
  GNTST_okay,
  GTF_permit_access,
  GTF_reading,
  GTF_writing,
} from "../src/gnttab/consts.ts";
import { FakeGnttabHost } from "../src/gnttab/fake_host.ts";
import { GrantTables } from "../src/gnttab/gnttab.ts";

const GUEST = `
const { workerData, parentPort } = require("node:worker_threads");
const h = new Uint16Array(workerData.table);
const w = new Int32Array(workerData.table);
const ctl = new Int32Array(workerData.ctl);
parentPort.postMessage("ready");
let ended = 0;
while (Atomics.load(ctl, 0) === 0) {
  Atomics.store(w, 1, 0);            // frame = gfn 0
  Atomics.store(h, 1, 2);            // domid = 2
  Atomics.store(h, 0, 1);            // GTF_permit_access: live
  for (;;) {                         // end access, refusing while reading/writing are set
    if (Atomics.load(ctl, 0) !== 0) break;
    const f = Atomics.load(h, 0);
    if (f & 0x18) continue;
    if (Atomics.compareExchange(h, 0, f, 0) === f) { ended++; break; }
  }
}
Atomics.store(ctl, 1, ended);
parentPort.postMessage("done");
`;

describe("grant pins against a concurrent granter", () => {
  it("end-access never succeeds while a mapping is live", async () => {
    const host = new FakeGnttabHost();
    host.addDomain(1);
    host.addDomain(2);
    const gt = new GrantTables(host);
    gt.setupTable(1, false, DOMID_SELF, 1);
    const table = host.tableFrames.get(1)![0].buffer;
    const flags = new Uint16Array(table);
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(GUEST, { eval: true, workerData: { table, ctl: ctl.buffer } });
    await new Promise((r) => worker.once("message", r));
    let mapped = 0;
    let violations = 0;
    const end = Date.now() + 400;
    while (Date.now() < end) {
      const r = gt.mapGrantRef(2, { hostAddr: 0n, flags: GNTMAP_host_map, ref: 0, dom: 1 });
      if (r.status !== GNTST_okay) continue; // the guest had just ended access: fine
      mapped++;
      for (let spin = 0; spin < 50; spin++) {
        const f = Atomics.load(flags, 0);
        if (f !== (GTF_permit_access | GTF_reading | GTF_writing)) violations++;
      }
      expect(gt.unmapGrantRef(2, 0n, 0n, r.handle)).toBe(GNTST_okay);
    }
    Atomics.store(ctl, 0, 1);
    await new Promise((r) => worker.once("message", r));
    await worker.terminate();
    expect(violations).toBe(0);
    expect(mapped).toBeGreaterThan(100); // the race was actually exercised...
    expect(Atomics.load(ctl, 1)).toBeGreaterThan(100); // ...from both sides
  });
});
