/**
 * Memory reservation (xen/memory.h): grow and shrink a domain's frames, populate its physmap on
 * demand, and query its page counts. pvkit implements the sub-ops a PV guest and toolstack need.
 */
import { constants, hypercall, otherDomainErrors, struct } from "../schema.ts";

const header = "xen/memory.h";

export const xenMemoryReservation = struct({
  name: "xen_memory_reservation",
  origin: "xen",
  header,
  doc:
    "increase/decrease_reservation and populate_physmap: `nr_extents` extents of 2^extent_order " +
    "pages for `domid`; `extent_start` lists their frames (gpfns for populate_physmap).",
  size: 32,
  fields: [
    { name: "extent_start", type: "ptr", doc: "Guest address of an array of xen_pfn_t (u64)." },
    { name: "nr_extents", type: "u64", doc: "Number of extents." },
    { name: "extent_order", type: "u32", doc: "log2 of pages per extent (pvkit: 0)." },
    { name: "mem_flags", type: "u32", doc: "XENMEMF_* flags." },
    { name: "domid", type: "u16", doc: "Target domain (DOMID_SELF, or any if privileged)." },
  ],
});

export const xenmemf = constants({
  name: "XENMEMF",
  origin: "xen",
  header,
  doc: "xen_memory_reservation.mem_flags bits.",
  values: [
    { name: "XENMEMF_populate_on_demand", value: 1 << 16, doc: "Populate-on-demand allocation." },
    { name: "XENMEMF_exact_node_request", value: 1 << 17, doc: "Fail rather than use another NUMA node." },
    { name: "XENMEMF_vnode", value: 1 << 18, doc: "The node in mem_flags is a virtual node." },
  ],
});

export const memoryOp = hypercall({
  name: "memory_op",
  number: 12,
  origin: "xen",
  header,
  doc: "Memory reservation and physmap operations.",
  subopPrefix: "XENMEM_",
  args: [
    { name: "cmd", kind: "subop", doc: "XENMEM_*" },
    { name: "arg", kind: "struct", doc: "Pointer to the sub-op's argument." },
  ],
  subops: [
    {
      name: "increase_reservation",
      number: 0,
      arg: "xen_memory_reservation",
      result: "value",
      doc: "Allocate extents to the domain; returns how many were done.",
      errors: [
        {
          errno: "ENOSYS",
          when: "always: a pvkit guest names the frames it wants with XENMEM_populate_physmap",
        },
      ],
      example: [
        "try {",
        "  k.hc.memoryOp.increaseReservation({ domid: DOMID_SELF, nr_extents: 1n });",
        "} catch (e) {",
        '  if (e instanceof XenError && e.errno === ENOSYS) k.print("use memoryOp.populatePhysmap");',
        "}",
      ],
    },
    {
      name: "decrease_reservation",
      number: 1,
      arg: "xen_memory_reservation",
      result: "value",
      doc: "Release the listed frames; returns how many were done.",
      errors: [
        ...otherDomainErrors("`domid`"),
        {
          errno: "EINVAL",
          when: "`extent_order` is not 0, `nr_extents` is above 65536, or a listed frame number is beyond any guest address",
        },
      ],
      example: [
        "// The kernel's balloon gives frames back this way (their numbers, u64s, at extent_start), and",
        "// stops at the first frame the domain does not have. Naming another domain needs dom0:",
        "try {",
        "  k.hc.memoryOp.decreaseReservation({ domid: 0, nr_extents: 1n, extent_start: 0n });",
        "} catch (e) {",
        '  if (e instanceof XenError && e.errno === EPERM) k.print("only dom0 may shrink another domain");',
        "}",
      ],
    },
    {
      name: "current_reservation",
      number: 3,
      arg: "u16",
      result: "value",
      doc: "Pages the domain (domid_t argument) currently holds.",
      errors: otherDomainErrors("the domid_t argument", "no domain has that id"),
      example: [
        "const pages = k.hc.memoryOp.currentReservation(DOMID_SELF);",
        "k.print(`${pages} pages (${pages / 256} MiB)`);",
      ],
    },
    {
      name: "maximum_reservation",
      number: 4,
      arg: "u16",
      result: "value",
      doc: "The domain's page limit (domid_t argument).",
      errors: otherDomainErrors("the domid_t argument", "no domain has that id"),
      example: [
        "const max = k.hc.memoryOp.maximumReservation(DOMID_SELF);",
        "k.print(`may grow to ${max} pages`);",
      ],
    },
    {
      name: "populate_physmap",
      number: 6,
      arg: "xen_memory_reservation",
      result: "value",
      doc: "Back the listed gpfns with fresh zeroed frames; returns how many extents were done.",
      errors: [
        ...otherDomainErrors("`domid`"),
        {
          errno: "EINVAL",
          when: "`extent_order` is not 0, `nr_extents` is above 65536, or a listed frame number is beyond any guest address",
        },
      ],
      example: [
        "// The kernel's page allocator populates on demand; a program that does it itself must pick",
        "// frame numbers the kernel does not use. The list holds u64 frame numbers.",
        "const page = k.grants.share(0); // a page of our own whose address we know (lent to dom0)",
        "page.view.setBigUint64(0, 0x10000n, true);",
        "const done = k.hc.memoryOp.populatePhysmap({ domid: DOMID_SELF, nr_extents: 1n, extent_start: BigInt(page.pfn) * 4096n });",
        'k.print(done === 1 ? "frame 0x10000 is ours" : "over our limit: nothing done");',
      ],
    },
  ],
});
