/**
 * xen_version (xen/version.h): the hypervisor's version, build strings and feature bits. Xen's
 * char-array results (xen_extraversion_t, ...) are modelled as structs with one `chars` field so the
 * SDK can decode them; their sizes are the typedefs' sizes.
 */
import { constants, hypercall, struct } from "../schema.ts";

const header = "xen/version.h";

export const xenExtraversion = struct({
  name: "xen_extraversion",
  origin: "xen",
  header,
  doc: 'XENVER_extraversion result: xen_extraversion_t, char[16] (e.g. ".0-pvkit").',
  size: 16,
  fields: [{ name: "extraversion", type: { chars: 16 }, dir: "out", doc: "NUL-padded string." }],
});

export const xenCompileInfo = struct({
  name: "xen_compile_info",
  origin: "xen",
  header,
  doc: "XENVER_compile_info result: who built the hypervisor, with what, when.",
  size: 144,
  fields: [
    { name: "compiler", type: { chars: 64 }, dir: "out", doc: "Compiler (pvkit: the Node version)." },
    { name: "compile_by", type: { chars: 16 }, dir: "out", doc: "User who built it." },
    { name: "compile_domain", type: { chars: 32 }, dir: "out", doc: "Build host's domain." },
    { name: "compile_date", type: { chars: 32 }, dir: "out", doc: "Build date." },
  ],
});

export const xenCapabilitiesInfo = struct({
  name: "xen_capabilities_info",
  origin: "xen",
  header,
  doc: "XENVER_capabilities result: xen_capabilities_info_t, char[1024] (space-separated guest types).",
  size: 1024,
  fields: [{ name: "info", type: { chars: 1024 }, dir: "out", doc: "NUL-padded string." }],
});

export const xenChangesetInfo = struct({
  name: "xen_changeset_info",
  origin: "xen",
  header,
  doc: "XENVER_changeset result: xen_changeset_info_t, char[64] (source revision).",
  size: 64,
  fields: [{ name: "info", type: { chars: 64 }, dir: "out", doc: "NUL-padded string." }],
});

export const xenPlatformParameters = struct({
  name: "xen_platform_parameters",
  origin: "xen",
  header,
  doc: "XENVER_platform_parameters result.",
  size: 8,
  fields: [{ name: "virt_start", type: "u64", dir: "out", doc: "Start of the hypervisor's virtual hole." }],
});

export const xenFeatureInfo = struct({
  name: "xen_feature_info",
  origin: "xen",
  header,
  doc: "XENVER_get_features: one 32-bit word of XENFEAT_* bits.",
  size: 8,
  fields: [
    { name: "submap_idx", type: "u32", doc: "Which 32-bit word to return." },
    { name: "submap", type: "u32", dir: "out", doc: "The feature bits." },
  ],
});

export const xenCommandline = struct({
  name: "xen_commandline",
  origin: "xen",
  header,
  doc: "XENVER_commandline result: xen_commandline_t, char[1024] (the hypervisor's command line).",
  size: 1024,
  fields: [{ name: "cmdline", type: { chars: 1024 }, dir: "out", doc: "NUL-padded string." }],
});

export const xenDomainHandle = struct({
  name: "xen_domain_handle",
  origin: "xen",
  header: "xen/xen.h",
  doc: "xen_domain_handle_t: uint8_t[16], the domain's UUID (XENVER_guest_handle, createdomain).",
  size: 16,
  fields: [{ name: "handle", type: { array: "u8", length: 16 }, dir: "out", doc: "UUID bytes." }],
});

export const xenfeat = constants({
  name: "XENFEAT",
  origin: "xen",
  header: "xen/features.h",
  doc: "Feature bit numbers reported by XENVER_get_features (submap 0).",
  values: [
    { name: "XENFEAT_writable_page_tables", value: 0, doc: "Page tables may be written directly." },
    { name: "XENFEAT_auto_translated_physmap", value: 2, doc: "The guest sees pseudo-physical memory only." },
    { name: "XENFEAT_supervisor_mode_kernel", value: 3, doc: "The guest kernel runs in supervisor mode." },
    { name: "XENFEAT_gnttab_map_avail_bits", value: 7, doc: "GNTMAP_guest_avail bits are honoured." },
    { name: "XENFEAT_dom0", value: 11, doc: "The domain is the initial domain." },
    { name: "XENFEAT_NR_SUBMAPS", value: 1, doc: "Number of 32-bit feature words." },
  ],
});

export const xenVersion = hypercall({
  name: "xen_version",
  number: 17,
  origin: "xen",
  header,
  doc: "Version and build information about the hypervisor.",
  subopPrefix: "XENVER_",
  args: [
    { name: "cmd", kind: "subop", doc: "XENVER_*" },
    { name: "arg", kind: "struct", doc: "Pointer to the result buffer, if the sub-op has one." },
  ],
  subops: [
    {
      name: "version",
      number: 0,
      result: "value",
      doc: "Returns (major << 16) | minor.",
      errors: [],
      example: ["const v = k.hc.xenVersion.version();", "k.print(`Xen ${v >> 16}.${v & 0xffff}`);"],
    },
    {
      name: "extraversion",
      number: 1,
      arg: "xen_extraversion",
      doc: "Version suffix string.",
      errors: [],
      example: ['const { extraversion } = k.hc.xenVersion.extraversion({}); // ".0-pvkit": this is pvkit'],
    },
    {
      name: "compile_info",
      number: 2,
      arg: "xen_compile_info",
      doc: "Build information.",
      errors: [],
      example: [
        "const info = k.hc.xenVersion.compileInfo({});",
        "k.print(`built by ${info.compile_by} with ${info.compiler}`);",
      ],
    },
    {
      name: "capabilities",
      number: 3,
      arg: "xen_capabilities_info",
      doc: "Supported guest types.",
      errors: [],
      example: ['const { info } = k.hc.xenVersion.capabilities({}); // "xen-3.0-x86_64"'],
    },
    {
      name: "changeset",
      number: 4,
      arg: "xen_changeset_info",
      doc: "Source revision.",
      errors: [],
      example: ["const { info } = k.hc.xenVersion.changeset({});"],
    },
    {
      name: "platform_parameters",
      number: 5,
      arg: "xen_platform_parameters",
      doc: "Hypervisor virtual address layout.",
      errors: [],
      example: [
        "const { virt_start } = k.hc.xenVersion.platformParameters({});",
        "k.print(`hypervisor above 0x${virt_start.toString(16)}`);",
      ],
    },
    {
      name: "get_features",
      number: 6,
      arg: "xen_feature_info",
      doc: "One word of feature bits.",
      errors: [{ errno: "EINVAL", when: "`submap_idx` is not 0 (there is one submap of 32 feature bits)" }],
      example: [
        "const { submap } = k.hc.xenVersion.getFeatures({ submap_idx: 0 });",
        'if (submap & (1 << XENFEAT_dom0)) k.print("we are the control domain");',
      ],
    },
    {
      name: "pagesize",
      number: 7,
      result: "value",
      doc: "Returns the page size (4096).",
      errors: [],
      example: ["const pageSize = k.hc.xenVersion.pagesize(); // 4096"],
    },
    {
      name: "guest_handle",
      number: 8,
      arg: "xen_domain_handle",
      doc: "The calling domain's UUID.",
      errors: [],
      example: ["const { handle } = k.hc.xenVersion.guestHandle({}); // 16 bytes"],
    },
    {
      name: "commandline",
      number: 9,
      arg: "xen_commandline",
      doc: "The hypervisor's command line.",
      errors: [],
      example: ["const { cmdline } = k.hc.xenVersion.commandline({}); // empty unless we are dom0"],
    },
  ],
});
