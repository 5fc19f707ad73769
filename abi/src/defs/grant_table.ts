/**
 * Grant tables (xen/grant_table.h): a domain grants another access to one of its frames by filling
 * a grant entry; the other side maps it or asks the hypervisor to copy. Version 1 entries only.
 */
import { constants, hypercall, otherDomainErrors, struct, union } from "../schema.ts";

const header = "xen/grant_table.h";

export const grantEntryV1 = struct({
  name: "grant_entry_v1",
  origin: "xen",
  header,
  doc: "One v1 grant table entry, written by the granting domain.",
  size: 8,
  fields: [
    { name: "flags", type: "u16", doc: "GTF_* type and flags." },
    { name: "domid", type: "u16", doc: "Domain allowed to use the grant." },
    { name: "frame", type: "u32", doc: "Granted frame (gpfn in pvkit)." },
  ],
});

export const gtf = constants({
  name: "GTF",
  origin: "xen",
  header,
  doc: "grant_entry_v1.flags: a type in the low two bits, then flags.",
  values: [
    { name: "GTF_invalid", value: 0, doc: "Type: the entry grants nothing." },
    { name: "GTF_permit_access", value: 1, doc: "Type: the domain may map or copy the frame." },
    { name: "GTF_accept_transfer", value: 2, doc: "Type: the domain may transfer a frame here." },
    { name: "GTF_transitive", value: 3, doc: "Type: a grant of a grant (v2 only)." },
    { name: "GTF_type_mask", value: 3, doc: "Mask of the type bits." },
    { name: "_GTF_readonly", value: 2, doc: "Bit number of GTF_readonly." },
    { name: "GTF_readonly", value: 1 << 2, doc: "Read-only access only." },
    { name: "_GTF_reading", value: 3, doc: "Bit number of GTF_reading." },
    {
      name: "GTF_reading",
      value: 1 << 3,
      doc: "Set by the hypervisor while the frame is mapped or copied from.",
    },
    { name: "_GTF_writing", value: 4, doc: "Bit number of GTF_writing." },
    { name: "GTF_writing", value: 1 << 4, doc: "Set by the hypervisor while the frame is mapped writable." },
    { name: "GTF_PWT", value: 1 << 5, doc: "Cache attribute: write-through." },
    { name: "GTF_PCD", value: 1 << 6, doc: "Cache attribute: cache disable." },
    { name: "GTF_PAT", value: 1 << 7, doc: "Cache attribute: PAT." },
    { name: "GTF_sub_page", value: 1 << 8, doc: "Sub-page grant (v2 only)." },
    { name: "GTF_transfer_committed", value: 1 << 2, doc: "Transfer: the frame is committed." },
    { name: "GTF_transfer_completed", value: 1 << 3, doc: "Transfer: the frame has arrived." },
  ],
});

export const gnttabReserved = constants({
  name: "GNTTAB_RESERVED",
  origin: "xen",
  header,
  doc: "Grant refs the toolstack reserves in every domain.",
  values: [
    { name: "GNTTAB_NR_RESERVED_ENTRIES", value: 8, doc: "Refs 0..7 are reserved." },
    { name: "GNTTAB_RESERVED_CONSOLE", value: 0, doc: "Grants the console ring to the console backend." },
    { name: "GNTTAB_RESERVED_XENSTORE", value: 1, doc: "Grants the xenstore ring to xenstored." },
  ],
});

export const gntmap = constants({
  name: "GNTMAP",
  origin: "xen",
  header,
  doc: "gnttab_map_grant_ref.flags.",
  values: [
    { name: "GNTMAP_device_map", value: 1 << 0, doc: "Map for device access." },
    { name: "GNTMAP_host_map", value: 1 << 1, doc: "Map into the caller's address space." },
    { name: "GNTMAP_readonly", value: 1 << 2, doc: "Map read-only." },
    { name: "GNTMAP_application_map", value: 1 << 3, doc: "Map for user-level access." },
    { name: "GNTMAP_contains_pte", value: 1 << 4, doc: "host_addr is a PTE address." },
  ],
});

export const gntcopy = constants({
  name: "GNTCOPY",
  origin: "xen",
  header,
  doc: "gnttab_copy.flags: which side is named by a grant ref rather than a frame.",
  values: [
    { name: "GNTCOPY_source_gref", value: 1 << 0, doc: "source.u.ref is a grant ref of source.domid." },
    { name: "GNTCOPY_dest_gref", value: 1 << 1, doc: "dest.u.ref is a grant ref of dest.domid." },
  ],
});

export const gntst = constants({
  name: "GNTST",
  origin: "xen",
  header,
  doc: "Per-operation status codes written to each op's `status` field.",
  values: [
    { name: "GNTST_okay", value: 0, doc: "Success." },
    { name: "GNTST_general_error", value: -1, doc: "Undefined error." },
    { name: "GNTST_bad_domain", value: -2, doc: "Unknown domain id." },
    { name: "GNTST_bad_gntref", value: -3, doc: "Invalid or inappropriate grant ref." },
    { name: "GNTST_bad_handle", value: -4, doc: "Invalid mapping handle." },
    { name: "GNTST_bad_virt_addr", value: -5, doc: "Invalid address to map at." },
    { name: "GNTST_bad_dev_addr", value: -6, doc: "Invalid device address to unmap." },
    { name: "GNTST_no_device_space", value: -7, doc: "No space in the I/O MMU." },
    { name: "GNTST_permission_denied", value: -8, doc: "Not allowed." },
    { name: "GNTST_bad_page", value: -9, doc: "Invalid page." },
    { name: "GNTST_bad_copy_arg", value: -10, doc: "Copy crosses a page boundary." },
    { name: "GNTST_address_too_big", value: -11, doc: "Transfer address too large." },
    { name: "GNTST_eagain", value: -12, doc: "Not done; try again." },
    { name: "GNTST_no_space", value: -13, doc: "Out of space (handles, ...)." },
  ],
});

export const gnttabMapGrantRef = struct({
  name: "gnttab_map_grant_ref",
  origin: "xen",
  header,
  doc: "Map a frame that `dom` granted us with `ref`.",
  size: 32,
  fields: [
    { name: "host_addr", type: "u64", doc: "Where to map it (pvkit: the gpfn-aligned guest address)." },
    { name: "flags", type: "u32", doc: "GNTMAP_* flags." },
    { name: "ref", type: "u32", doc: "Grant ref in dom's table." },
    { name: "dom", type: "u16", doc: "Granting domain." },
    { name: "status", type: "i16", dir: "out", doc: "GNTST_* result." },
    { name: "handle", type: "u32", dir: "out", doc: "Handle for unmapping." },
    { name: "dev_bus_addr", type: "u64", dir: "out", doc: "Device address (GNTMAP_device_map)." },
  ],
});

export const gnttabUnmapGrantRef = struct({
  name: "gnttab_unmap_grant_ref",
  origin: "xen",
  header,
  doc: "Undo a mapping by handle.",
  size: 24,
  fields: [
    { name: "host_addr", type: "u64", doc: "Address it is mapped at (or 0)." },
    { name: "dev_bus_addr", type: "u64", doc: "Device address (or 0)." },
    { name: "handle", type: "u32", doc: "Handle from map_grant_ref." },
    { name: "status", type: "i16", dir: "out", doc: "GNTST_* result." },
  ],
});

export const gnttabSetupTable = struct({
  name: "gnttab_setup_table",
  origin: "xen",
  header,
  doc: "Set up `nr_frames` frames of dom's grant table and return their frame numbers.",
  size: 24,
  fields: [
    { name: "dom", type: "u16", doc: "Domain (DOMID_SELF)." },
    { name: "nr_frames", type: "u32", doc: "Frames wanted." },
    { name: "status", type: "i16", dir: "out", doc: "GNTST_* result." },
    { name: "frame_list", type: "ptr", doc: "Guest address of an array of xen_pfn_t (u64) to fill." },
  ],
});

export const gnttabCopyPtrU = union({
  name: "gnttab_copy_ptr_u",
  origin: "xen",
  header,
  doc: "gnttab_copy_ptr.u: a grant ref or a frame, chosen by GNTCOPY_*_gref.",
  size: 8,
  variants: [
    { name: "ref", type: "u32", doc: "Grant ref." },
    { name: "gmfn", type: "u64", doc: "Frame of the caller's own memory." },
  ],
});

export const gnttabCopyPtr = struct({
  name: "gnttab_copy_ptr",
  origin: "xen",
  header,
  doc: "One side of a grant copy.",
  size: 16,
  fields: [
    { name: "u", type: { union: "gnttab_copy_ptr_u" }, doc: "Grant ref or frame." },
    { name: "domid", type: "u16", doc: "Domain owning the memory." },
    { name: "offset", type: "u16", doc: "Byte offset in the page." },
  ],
});

export const gnttabCopy = struct({
  name: "gnttab_copy",
  origin: "xen",
  header,
  doc: "The hypervisor copies `len` bytes between two pages, either of them named by grant.",
  size: 40,
  fields: [
    { name: "source", type: { struct: "gnttab_copy_ptr" }, doc: "Where to copy from." },
    { name: "dest", type: { struct: "gnttab_copy_ptr" }, doc: "Where to copy to." },
    { name: "len", type: "u16", doc: "Bytes; must not cross a page on either side." },
    { name: "flags", type: "u16", doc: "GNTCOPY_* flags." },
    { name: "status", type: "i16", dir: "out", doc: "GNTST_* result." },
  ],
});

export const gnttabQuerySize = struct({
  name: "gnttab_query_size",
  origin: "xen",
  header,
  doc: "Current and maximum grant table frames of a domain.",
  size: 16,
  fields: [
    { name: "dom", type: "u16", doc: "Domain (DOMID_SELF)." },
    { name: "nr_frames", type: "u32", dir: "out", doc: "Frames in use." },
    { name: "max_nr_frames", type: "u32", dir: "out", doc: "Frame limit." },
    { name: "status", type: "i16", dir: "out", doc: "GNTST_* result." },
  ],
});

export const gnttabSetVersion = struct({
  name: "gnttab_set_version",
  origin: "xen",
  header,
  doc: "Select the grant table format; pvkit supports version 1 only.",
  size: 4,
  fields: [{ name: "version", type: "u32", dir: "inout", doc: "Wanted version; the current one on return." }],
});

export const gnttabGetVersion = struct({
  name: "gnttab_get_version",
  origin: "xen",
  header,
  doc: "Query a domain's grant table version.",
  size: 8,
  fields: [
    { name: "dom", type: "u16", doc: "Domain (DOMID_SELF)." },
    { name: "pad", type: "u16", doc: "Padding." },
    { name: "version", type: "u32", dir: "out", doc: "Its version." },
  ],
});

export const grantTableOp = hypercall({
  name: "grant_table_op",
  number: 20,
  origin: "xen",
  header,
  doc: "Grant table operations; each takes an array of `count` op structs, each with its own status: a failed op is a GNTST_* status in its struct, not an errno.",
  subopPrefix: "GNTTABOP_",
  args: [
    { name: "cmd", kind: "subop", doc: "GNTTABOP_*" },
    { name: "uop", kind: "structArray", doc: "Guest address of the op structs." },
    { name: "count", kind: "count", doc: "Number of op structs." },
  ],
  subops: [
    {
      name: "map_grant_ref",
      number: 0,
      arg: "gnttab_map_grant_ref",
      doc: "Map granted frames.",
      errors: [],
      example: [
        "// k.grants.map(domid, ref) does this for a program: it picks a free slot of the kernel's",
        "// foreign-mapping window (from 2^40 up) as host_addr. A failed map is a GNTST_* status.",
        "const [m] = k.hc.grantTableOp.mapGrantRef([",
        "  { dom: 1, ref: 8, flags: GNTMAP_host_map | GNTMAP_readonly, host_addr: 1n << 40n },",
        "]);",
        "if (m.status !== GNTST_okay) k.print(`map failed: GNTST ${m.status}`);",
      ],
    },
    {
      name: "unmap_grant_ref",
      number: 1,
      arg: "gnttab_unmap_grant_ref",
      doc: "Unmap by handle.",
      errors: [],
      example: [
        "const [m] = k.hc.grantTableOp.mapGrantRef([{ dom: 1, ref: 8, flags: GNTMAP_host_map, host_addr: 1n << 40n }]);",
        "const [u] = k.hc.grantTableOp.unmapGrantRef([{ host_addr: 1n << 40n, dev_bus_addr: 0n, handle: m.handle }]);",
        'if (u.status === GNTST_bad_handle) k.print("that mapping was not ours");',
      ],
    },
    {
      name: "setup_table",
      number: 2,
      arg: "gnttab_setup_table",
      doc: "Get the grant table's frames.",
      errors: [],
      example: [
        "// The kernel did this at boot; asking again for as many frames returns the same ones.",
        "const page = k.grants.share(0); // a page of our own whose address we know (lent to dom0)",
        "const [r] = k.hc.grantTableOp.setupTable([{ dom: DOMID_SELF, nr_frames: 1, frame_list: BigInt(page.pfn) * 4096n }]);",
        "if (r.status === GNTST_okay) k.print(`grant frame 0 is mfn ${page.view.getBigUint64(0, true)}`);",
      ],
    },
    {
      name: "copy",
      number: 5,
      arg: "gnttab_copy",
      doc: "Copy between granted pages.",
      errors: [],
      example: [
        "// Copies 16 bytes of grant 8 of domain 1 into a page of ours, without mapping it (k.grants.copyFrom).",
        "const page = k.grants.share(0); // a page of our own whose address we know (lent to dom0)",
        "const [c] = k.hc.grantTableOp.copy([",
        "  {",
        "    source: { u: { ref: 8 }, domid: 1, offset: 0 },",
        "    dest: { u: { gmfn: BigInt(page.pfn) }, domid: DOMID_SELF, offset: 0 },",
        "    len: 16,",
        "    flags: GNTCOPY_source_gref,",
        "  },",
        "]);",
        "if (c.status !== GNTST_okay) k.print(`copy failed: GNTST ${c.status}`);",
      ],
    },
    {
      name: "query_size",
      number: 6,
      arg: "gnttab_query_size",
      doc: "Grant table size.",
      errors: [],
      example: [
        "const [q] = k.hc.grantTableOp.querySize([{ dom: DOMID_SELF }]);",
        "k.print(`${q.nr_frames} of at most ${q.max_nr_frames} grant frames`);",
      ],
    },
    {
      name: "set_version",
      number: 8,
      arg: "gnttab_set_version",
      doc: "Choose the entry format.",
      errors: [
        { errno: "ENOSYS", when: "`version` is 2: pvkit has grant table v1 only (as Xen built without v2)" },
        { errno: "EINVAL", when: "`version` is neither 1 nor 2" },
      ],
      example: [
        "const [v] = k.hc.grantTableOp.setVersion([{ version: 1 }]); // v.version: the version in effect",
      ],
    },
    {
      name: "get_version",
      number: 10,
      arg: "gnttab_get_version",
      doc: "Query the entry format.",
      errors: [...otherDomainErrors("`dom`", "`dom` is not a live domain")],
      example: [
        "const [v] = k.hc.grantTableOp.getVersion([{ dom: DOMID_SELF }]);",
        "k.print(`grant table v${v.version}`);",
      ],
    },
  ],
});
