/**
 * Memory: grow by one page, fill it, give it back, grow again — the frame that comes back must be
 * zeroed (the hypervisor scrubs freed frames) — and watch current_reservation follow.
 */
import { DOMID_SELF } from "@pvkit/abi/layout";
import { PAGE, arch, hc, memory, poweroff, report } from "./raw.ts";

const pfn = Number(arch.startInfo.nr_pages) + 1;
memory.write(5 * PAGE, new Uint8Array(new BigUint64Array([BigInt(pfn)]).buffer));
const r = { extent_start: BigInt(5 * PAGE), nr_extents: 1n, extent_order: 0, domid: DOMID_SELF };
const before = hc.memoryOp.currentReservation(DOMID_SELF);
const grew = hc.memoryOp.populatePhysmap(r);
memory.write(pfn * PAGE, new Uint8Array(PAGE).fill(0xab));
const during = hc.memoryOp.currentReservation(DOMID_SELF);
const shrank = hc.memoryOp.decreaseReservation(r);
let gone = "no";
try {
  memory.read(pfn * PAGE, 1);
} catch {
  gone = "yes";
}
const regrew = hc.memoryOp.populatePhysmap(r);
const back = memory.read(pfn * PAGE, PAGE);
report({
  before,
  grew,
  during,
  shrank,
  gone,
  regrew,
  zeroed: back.every((b) => b === 0),
  max: hc.memoryOp.maximumReservation(DOMID_SELF),
});
poweroff();
