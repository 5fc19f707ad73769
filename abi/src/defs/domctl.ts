/**
 * domctl (xen/domctl.h, toolstack-only): the control domain creates, pauses, inspects and destroys
 * domains. One pointer to a 144-byte struct xen_domctl whose header carries the command, the
 * interface version and the target domain; the sub-op's payload is the union at offset 16. pvkit
 * implements the subset its toolstack needs; every sub-op is privileged.
 */
import { constants, hypercall, struct } from "../schema.ts";

const header = "xen/domctl.h";

export const xenDomctlHeader = struct({
  name: "xen_domctl_header",
  origin: "pvkit",
  doc:
    "pvkit's name for the first 16 bytes of Xen's struct xen_domctl (cmd, interface_version, " +
    "domain, _pad); the conformance test checks it against struct xen_domctl.",
  size: 16,
  fields: [
    { name: "cmd", type: "u32", doc: "XEN_DOMCTL_* command." },
    { name: "interface_version", type: "u32", doc: "XEN_DOMCTL_INTERFACE_VERSION (0x15)." },
    { name: "domain", type: "u16", dir: "inout", doc: "Target domain; createdomain writes the new id." },
    { name: "_pad", type: { array: "u16", length: 3 }, doc: "Padding." },
  ],
});

export const xenArchDomainconfig = struct({
  name: "xen_arch_domainconfig",
  origin: "xen",
  header: "xen/arch-x86/xen.h",
  doc: "x86 domain configuration (emulated devices of HVM guests); pvkit's PV domains leave it zero.",
  size: 8,
  fields: [
    { name: "emulation_flags", type: "u32", doc: "XEN_X86_EMU_* (0 for PV)." },
    { name: "misc_flags", type: "u32", doc: "XEN_X86_MSR_RELAXED, ..." },
  ],
});

export const xenDomctlCreatedomain = struct({
  name: "xen_domctl_createdomain",
  origin: "xen",
  header,
  doc:
    "XEN_DOMCTL_createdomain: make a new, paused, empty domain. domctl.domain in: the wanted id or " +
    "0 for any; out: the new id. HVM/IOMMU/vmtrace fields are kept for layout and must be 0.",
  size: 64,
  fields: [
    { name: "ssidref", type: "u32", doc: "XSM security label (unused, 0)." },
    { name: "handle", type: { array: "u8", length: 16 }, doc: "The domain's UUID." },
    { name: "flags", type: "u32", doc: "XEN_DOMCTL_CDF_* (pvkit: 0 or XEN_DOMCTL_CDF_xs_domain)." },
    { name: "iommu_opts", type: "u32", doc: "XEN_DOMCTL_IOMMU_* (0)." },
    { name: "max_vcpus", type: "u32", doc: "vCPU limit." },
    { name: "max_evtchn_port", type: "u32", doc: "Highest event channel port allowed." },
    { name: "max_grant_frames", type: "i32", doc: "Grant table frame limit (-1: default)." },
    { name: "max_maptrack_frames", type: "i32", doc: "Maptrack frame limit (-1: default)." },
    { name: "grant_opts", type: "u32", doc: "XEN_DOMCTL_GRANT_version(1)." },
    { name: "vmtrace_size", type: "u32", doc: "Processor trace buffer size (0)." },
    { name: "cpupool_id", type: "u32", doc: "CPU pool (0)." },
    { name: "arch", type: { struct: "xen_arch_domainconfig" }, doc: "Architecture configuration." },
  ],
});

export const xenDomctlGetdomaininfo = struct({
  name: "xen_domctl_getdomaininfo",
  origin: "xen",
  header,
  doc: "XEN_DOMCTL_getdomaininfo result (also the element of XEN_SYSCTL_getdomaininfolist).",
  size: 112,
  fields: [
    { name: "domain", type: "u16", dir: "out", doc: "Domain id (also echoed in domctl.domain)." },
    { name: "pad1", type: "u16", doc: "Padding." },
    { name: "flags", type: "u32", dir: "out", doc: "XEN_DOMINF_* and the shutdown reason in bits 16-23." },
    { name: "tot_pages", type: "u64", dir: "out", doc: "Pages held." },
    { name: "max_pages", type: "u64", dir: "out", doc: "Page limit." },
    { name: "outstanding_pages", type: "u64", dir: "out", doc: "Claimed but not yet allocated pages." },
    { name: "shr_pages", type: "u64", dir: "out", doc: "Shared pages (0)." },
    { name: "paged_pages", type: "u64", dir: "out", doc: "Paged-out pages (0)." },
    { name: "shared_info_frame", type: "u64", dir: "out", doc: "Frame of the domain's shared_info." },
    { name: "cpu_time", type: "u64", dir: "out", doc: "CPU time used, ns." },
    { name: "nr_online_vcpus", type: "u32", dir: "out", doc: "vCPUs up." },
    { name: "max_vcpu_id", type: "u32", dir: "out", doc: "Highest vCPU id." },
    { name: "ssidref", type: "u32", dir: "out", doc: "XSM label." },
    { name: "handle", type: { array: "u8", length: 16 }, dir: "out", doc: "The domain's UUID." },
    { name: "cpupool", type: "u32", dir: "out", doc: "CPU pool." },
    { name: "gpaddr_bits", type: "u8", dir: "out", doc: "Guest physical address width." },
    { name: "pad2", type: { array: "u8", length: 7 }, doc: "Padding." },
    {
      name: "arch_config",
      type: { struct: "xen_arch_domainconfig" },
      dir: "out",
      doc: "Arch configuration.",
    },
  ],
});

export const xenDomctlMaxMem = struct({
  name: "xen_domctl_max_mem",
  origin: "xen",
  header,
  doc: "XEN_DOMCTL_max_mem: set the domain's memory limit.",
  size: 8,
  fields: [{ name: "max_memkb", type: "u64", doc: "Limit in KiB." }],
});

export const xenDomctlMaxVcpus = struct({
  name: "xen_domctl_max_vcpus",
  origin: "xen",
  header,
  doc: "XEN_DOMCTL_max_vcpus: allocate the domain's vCPUs (all down until VCPUOP_up or start).",
  size: 4,
  fields: [{ name: "max", type: "u32", doc: "Number of vCPUs." }],
});

export const xenDominf = constants({
  name: "XEN_DOMINF",
  origin: "xen",
  header,
  doc: "xen_domctl_getdomaininfo.flags.",
  values: [
    { name: "XEN_DOMINF_dying", value: 1 << 0, doc: "Being destroyed." },
    { name: "XEN_DOMINF_hvm_guest", value: 1 << 1, doc: "HVM guest (never in pvkit)." },
    { name: "XEN_DOMINF_shutdown", value: 1 << 2, doc: "Shut down; the reason is in the shutdown bits." },
    { name: "XEN_DOMINF_paused", value: 1 << 3, doc: "Paused by the toolstack." },
    { name: "XEN_DOMINF_blocked", value: 1 << 4, doc: "Every vCPU blocked." },
    { name: "XEN_DOMINF_running", value: 1 << 5, doc: "A vCPU is running." },
    { name: "XEN_DOMINF_debugged", value: 1 << 6, doc: "Being debugged." },
    { name: "XEN_DOMINF_xs_domain", value: 1 << 7, doc: "Runs xenstored." },
    { name: "XEN_DOMINF_hap", value: 1 << 8, doc: "Uses hardware-assisted paging." },
    { name: "XEN_DOMINF_shutdownmask", value: 255, doc: "Mask of the shutdown reason (after shifting)." },
    { name: "XEN_DOMINF_shutdownshift", value: 16, doc: "Shift of the shutdown reason (SHUTDOWN_*)." },
  ],
});

export const xenDomctlCdf = constants({
  name: "XEN_DOMCTL_CDF",
  origin: "xen",
  header,
  doc: "xen_domctl_createdomain.flags.",
  values: [
    { name: "XEN_DOMCTL_CDF_hvm", value: 1 << 0, doc: "HVM guest (refused by pvkit)." },
    { name: "XEN_DOMCTL_CDF_hap", value: 1 << 1, doc: "Hardware-assisted paging." },
    { name: "XEN_DOMCTL_CDF_s3_integrity", value: 1 << 2, doc: "S3 integrity (tboot)." },
    { name: "XEN_DOMCTL_CDF_oos_off", value: 1 << 3, doc: "Disable out-of-sync shadow page tables." },
    { name: "XEN_DOMCTL_CDF_xs_domain", value: 1 << 4, doc: "The domain runs xenstored." },
    { name: "XEN_DOMCTL_CDF_iommu", value: 1 << 5, doc: "Give the domain an IOMMU." },
    { name: "XEN_DOMCTL_CDF_nested_virt", value: 1 << 6, doc: "Nested virtualisation." },
    { name: "XEN_DOMCTL_CDF_vpmu", value: 1 << 7, doc: "Virtual PMU." },
  ],
});

export const xenDomctlMisc = constants({
  name: "XEN_DOMCTL_MISC",
  origin: "xen",
  header,
  doc: "domctl interface version and helpers.",
  values: [
    { name: "XEN_DOMCTL_INTERFACE_VERSION", value: 0x15, doc: "The version a domctl caller must pass." },
    { name: "XEN_DOMCTL_GRANT_version_mask", value: 0xf, doc: "grant_opts bits holding the grant version." },
    { name: "XEN_INVALID_MAX_VCPU_ID", value: 0xffffffff, doc: "max_vcpu_id of a domain with no vCPUs." },
  ],
});

export const domctl = hypercall({
  name: "domctl",
  number: 36,
  origin: "xen",
  header,
  doc: "Domain control for the toolstack (dom0 only).",
  subopPrefix: "XEN_DOMCTL_",
  privileged: true,
  args: [{ name: "u_domctl", kind: "struct", doc: "Pointer to a struct xen_domctl." }],
  envelope: {
    header: "xen_domctl_header",
    cmdField: "cmd",
    versionField: "interface_version",
    version: 0x15,
    targetField: "domain",
    payloadOffset: 16,
    size: 144,
  },
  subops: [
    {
      name: "createdomain",
      number: 1,
      arg: "xen_domctl_createdomain",
      result: "value",
      privileged: true,
      doc:
        "Create a paused, empty domain with id domctl.domain (0: the lowest free id). Xen writes the " +
        "new id to domctl.domain and returns 0; pvkit writes it there too and also returns it.",
      errors: [
        {
          errno: "EINVAL",
          when: "`domain` is a reserved id (DOMID_FIRST_RESERVED, 0x7ff0, and up), or `max_vcpus` is above 1",
        },
        { errno: "EEXIST", when: "`domain` is in use" },
        { errno: "ENOSPC", when: "`domain` is 0 and every id is in use" },
        {
          errno: "ENOMEM",
          when: "the machine cannot promise the new domain its overhead, or has no frame for its shared_info",
        },
      ],
      example: [
        "if (k.privileged) {",
        "  const domid = k.hc.domctl.createdomain(0, { max_vcpus: 1 }); // 0: the hypervisor picks the id",
        "  k.print(`domain ${domid} exists, paused and empty`);",
        "}",
      ],
    },
    {
      name: "destroydomain",
      number: 2,
      privileged: true,
      doc: "Tear a domain down and free its memory.",
      errors: [
        { errno: "EINVAL", when: "`domain` is 0" },
        { errno: "ESRCH", when: "`domain` is not a domain" },
      ],
      example: ["if (k.privileged) k.hc.domctl.destroydomain(5);"],
    },
    {
      name: "pausedomain",
      number: 3,
      privileged: true,
      doc: "Stop scheduling the domain's vCPUs.",
      errors: [
        { errno: "EINVAL", when: "`domain` is the caller" },
        { errno: "ESRCH", when: "`domain` is not a live domain" },
      ],
      example: ["if (k.privileged) k.hc.domctl.pausedomain(5);"],
    },
    {
      name: "unpausedomain",
      number: 4,
      privileged: true,
      doc: "Resume a paused domain.",
      errors: [
        { errno: "ESRCH", when: "`domain` is not a live domain" },
        { errno: "EINVAL", when: "the domain has not been built (PVKIT_OP_build)" },
      ],
      example: ["if (k.privileged) k.hc.domctl.unpausedomain(5); // runs again once every pause is undone"],
    },
    {
      name: "getdomaininfo",
      number: 5,
      arg: "xen_domctl_getdomaininfo",
      privileged: true,
      doc: "Read the domain's state, memory and vCPU counts.",
      errors: [{ errno: "ESRCH", when: "`domain` is not a domain" }],
      example: [
        "const info = k.hc.domctl.getdomaininfo(1, {});",
        "const shutdown = (info.flags & XEN_DOMINF_shutdown) !== 0;",
        'k.print(`domain 1: ${info.tot_pages} pages${shutdown ? ", shut down" : ""}`);',
      ],
    },
    {
      name: "max_mem",
      number: 11,
      arg: "xen_domctl_max_mem",
      privileged: true,
      doc: "Set the memory limit.",
      errors: [
        { errno: "ESRCH", when: "`domain` is not a domain" },
        { errno: "EINVAL", when: "`max_memkb` is below what the built domain already holds, or beyond 2^53" },
        { errno: "ENOMEM", when: "the machine cannot promise that much memory" },
      ],
      example: ["if (k.privileged) k.hc.domctl.maxMem(5, { max_memkb: 64n * 1024n }); // at most 64 MiB"],
    },
    {
      name: "max_vcpus",
      number: 15,
      arg: "xen_domctl_max_vcpus",
      privileged: true,
      doc: "Allocate the domain's vCPUs.",
      errors: [
        { errno: "ESRCH", when: "`domain` is not a domain" },
        { errno: "EINVAL", when: "`max` is not 1 (a pvkit domain has one vCPU)" },
      ],
      example: ["if (k.privileged) k.hc.domctl.maxVcpus(5, { max: 1 });"],
    },
  ],
});
