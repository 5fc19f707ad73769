/**
 * The PV console ring (xen/io/console.h): one shared page with an input and an output byte ring,
 * used between a domain and the console backend in dom0 (start_info.console.domU).
 */
import { constants, struct } from "../schema.ts";

const header = "xen/io/console.h";

export const xenconsInterface = struct({
  name: "xencons_interface",
  origin: "xen",
  header,
  doc:
    "Console ring page. Indices run freely and are masked with the ring size (MASK_XENCONS_IDX); " +
    "`in` carries keyboard input to the guest, `out` its output.",
  size: 3088,
  fields: [
    { name: "in", type: { array: "u8", length: 1024 }, doc: "Input ring (backend writes)." },
    { name: "out", type: { array: "u8", length: 2048 }, doc: "Output ring (guest writes)." },
    { name: "in_cons", type: "u32", doc: "Input consumer index (guest)." },
    { name: "in_prod", type: "u32", doc: "Input producer index (backend)." },
    { name: "out_cons", type: "u32", doc: "Output consumer index (backend)." },
    { name: "out_prod", type: "u32", doc: "Output producer index (guest)." },
  ],
});

export const xencons = constants({
  name: "XENCONS",
  origin: "pvkit",
  doc: "pvkit names for the ring sizes of xencons_interface (the arrays' lengths; Xen has no macros for them).",
  values: [
    { name: "XENCONS_IN_SIZE", value: 1024, doc: "Bytes of the input ring." },
    { name: "XENCONS_OUT_SIZE", value: 2048, doc: "Bytes of the output ring." },
  ],
});
