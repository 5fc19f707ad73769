/**
 * Three raw guests around one granted page, in steps the test drives with VIRQ_DEBUG:
 *  - "granter" grants pfn 10 read-write to the mapper and pfn 11 read-only to the reader, each with
 *    a known text; later it frees pfn 10 (decrease_reservation), populates it again and writes a
 *    private text into the new page; at the end it reports what its read-only page holds.
 *  - "mapper" maps the read-write grant and keeps the buffer for good; at the end it scans that
 *    buffer for the granter's new private text and for a victim's secret.
 *  - "reader" maps the read-only grant and writes into the buffer it was handed, bypassing its
 *    kernel's checks.
 */
import {
  DOMID_SELF,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GTF_permit_access,
  GTF_readonly,
  VIRQ_DEBUG,
} from "@pvkit/abi/layout";
import { FOREIGN_BASE } from "@pvkit/guest-kernel/arch/memory";
import { PAGE, arch, arg, hc, memory, poweroff, report, text, waitPort } from "../../guests/raw.ts";

const role = arg("role");
const granter = role === "granter" ? arch.domid : Number(arg("granter"));
const RW_REF = 8;
const RO_REF = 9;
const debug = hc.eventChannelOp.bindVirq({ virq: VIRQ_DEBUG, vcpu: 0 }).port;
const enc = new TextEncoder();
const contains = (b: Uint8Array, s: string) => {
  const n = enc.encode(s);
  for (let i = 0; i <= b.length - n.length; i++) if (n.every((x, j) => b[i + j] === x)) return true;
  return false;
};
const foreign = (memory as unknown as { foreign: Map<number, { bytes: Uint8Array }> }).foreign;

if (role === "granter") {
  const mapper = Number(arg("mapper"));
  const reader = Number(arg("reader"));
  hc.grantTableOp.setupTable([{ dom: DOMID_SELF, nr_frames: 1, frame_list: BigInt(5 * PAGE) }]);
  const mfn = Number(new DataView(memory.read(5 * PAGE, 8).buffer).getBigUint64(0, true));
  const table = arch.mapFrames([mfn])[0]!;
  const grant = (ref: number, dom: number, pfn: number, flags: number) => {
    table.setUint16(ref * 8 + 2, dom, true);
    table.setUint32(ref * 8 + 4, pfn, true);
    table.setUint16(ref * 8, flags, true);
  };
  memory.write(10 * PAGE, enc.encode("shared with the mapper"));
  memory.write(11 * PAGE, enc.encode("original read-only text"));
  grant(RW_REF, mapper, 10, GTF_permit_access);
  grant(RO_REF, reader, 11, GTF_permit_access | GTF_readonly);
  report({ role, phase: "granted" });
  await waitPort(debug); // the mapper has mapped pfn 10
  memory.write(6 * PAGE + 64, new Uint8Array(new BigUint64Array([10n]).buffer));
  const one = { extent_start: BigInt(6 * PAGE + 64), nr_extents: 1n, extent_order: 0, domid: DOMID_SELF };
  const freed = hc.memoryOp.decreaseReservation(one);
  const again = hc.memoryOp.populatePhysmap(one);
  memory.write(10 * PAGE, enc.encode("granter's private text"));
  report({ role, phase: "freed", freed, again });
  await waitPort(debug); // the reader has written into its buffer
  report({ role, phase: "done", ro: text(11 * PAGE, 23) });
  poweroff();
}

const ro = role === "reader";
const [m] = hc.grantTableOp.mapGrantRef([
  {
    host_addr: BigInt(FOREIGN_BASE),
    flags: GNTMAP_host_map | (ro ? GNTMAP_readonly : 0),
    ref: ro ? RO_REF : RW_REF,
    dom: granter,
  },
]);
const view = foreign.get(FOREIGN_BASE)!.bytes;
const seen = new TextDecoder().decode(view.subarray(0, 23)).replace(/\0+$/, "");
if (ro) {
  let refused = "no";
  try {
    memory.write(FOREIGN_BASE, enc.encode("x"));
  } catch {
    refused = "yes";
  }
  view.set(enc.encode("defaced by the reader!!"));
  report({ role, phase: "wrote", status: m!.status, seen, refused });
  poweroff();
}
report({ role, phase: "mapped", status: m!.status, seen });
await waitPort(debug); // the granter freed its page; a victim has booted
report({
  role,
  phase: "scanned",
  granterPrivate: contains(view, "granter's private text"),
  secret: contains(view, "pvkit-secret-"),
  still: new TextDecoder().decode(view.subarray(0, 22)),
});
poweroff();
