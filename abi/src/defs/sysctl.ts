/**
 * sysctl (xen/sysctl.h, toolstack-only): host-wide queries. One pointer to a 136-byte struct
 * xen_sysctl whose header carries the command and interface version; the payload union is at
 * offset 8. pvkit implements the subset `pvkit list`/`top` need; every sub-op is privileged.
 */
import { constants, hypercall, struct } from "../schema.ts";

const header = "xen/sysctl.h";

export const xenSysctlHeader = struct({
  name: "xen_sysctl_header",
  origin: "pvkit",
  doc:
    "pvkit's name for the first 8 bytes of Xen's struct xen_sysctl (cmd, interface_version); the " +
    "conformance test checks it against struct xen_sysctl.",
  size: 8,
  fields: [
    { name: "cmd", type: "u32", doc: "XEN_SYSCTL_* command." },
    { name: "interface_version", type: "u32", doc: "XEN_SYSCTL_INTERFACE_VERSION (0x15)." },
  ],
});

export const xenSysctlPhysinfo = struct({
  name: "xen_sysctl_physinfo",
  origin: "xen",
  header,
  doc: "XEN_SYSCTL_physinfo result: the host's CPUs and memory.",
  size: 112,
  fields: [
    { name: "threads_per_core", type: "u32", dir: "out", doc: "Threads per core." },
    { name: "cores_per_socket", type: "u32", dir: "out", doc: "Cores per socket." },
    { name: "nr_cpus", type: "u32", dir: "out", doc: "CPUs online." },
    { name: "max_cpu_id", type: "u32", dir: "out", doc: "Largest possible CPU id." },
    { name: "nr_nodes", type: "u32", dir: "out", doc: "NUMA nodes online." },
    { name: "max_node_id", type: "u32", dir: "out", doc: "Largest possible node id." },
    { name: "cpu_khz", type: "u32", dir: "out", doc: "CPU frequency in kHz." },
    { name: "capabilities", type: "u32", dir: "out", doc: "XEN_SYSCTL_PHYSCAP_* bits." },
    { name: "arch_capabilities", type: "u32", dir: "out", doc: "Architecture-specific capability bits." },
    { name: "pad", type: "u32", doc: "Padding." },
    { name: "total_pages", type: "u64", dir: "out", doc: "Host pages (pvkit: the frame budget)." },
    { name: "free_pages", type: "u64", dir: "out", doc: "Pages not given to any domain." },
    { name: "scrub_pages", type: "u64", dir: "out", doc: "Pages waiting to be scrubbed." },
    { name: "outstanding_pages", type: "u64", dir: "out", doc: "Claimed pages." },
    { name: "max_mfn", type: "u64", dir: "out", doc: "Largest possible frame number." },
    { name: "hw_cap", type: { array: "u32", length: 8 }, dir: "out", doc: "CPU feature words." },
  ],
});

export const xenSysctlGetdomaininfolist = struct({
  name: "xen_sysctl_getdomaininfolist",
  origin: "xen",
  header,
  doc: "XEN_SYSCTL_getdomaininfolist: info of up to max_domains domains with id >= first_domain.",
  size: 24,
  fields: [
    { name: "first_domain", type: "u16", doc: "Lowest domain id to report." },
    { name: "max_domains", type: "u32", doc: "Entries available in `buffer`." },
    { name: "buffer", type: "ptr", doc: "Guest address of xen_domctl_getdomaininfo[max_domains]." },
    { name: "num_domains", type: "u32", dir: "out", doc: "Entries written." },
  ],
});

export const xenSysctlPhyscap = constants({
  name: "XEN_SYSCTL_PHYSCAP",
  origin: "xen",
  header,
  doc: "xen_sysctl_physinfo.capabilities.",
  values: [
    { name: "XEN_SYSCTL_PHYSCAP_hvm", value: 1 << 0, doc: "HVM guests supported (never in pvkit)." },
    { name: "XEN_SYSCTL_PHYSCAP_pv", value: 1 << 1, doc: "PV guests supported." },
    { name: "XEN_SYSCTL_PHYSCAP_directio", value: 1 << 2, doc: "Device passthrough supported." },
    { name: "XEN_SYSCTL_PHYSCAP_hap", value: 1 << 3, doc: "Hardware-assisted paging." },
    { name: "XEN_SYSCTL_PHYSCAP_shadow", value: 1 << 4, doc: "Shadow paging." },
    { name: "XEN_SYSCTL_PHYSCAP_vmtrace", value: 1 << 6, doc: "Processor trace." },
    { name: "XEN_SYSCTL_PHYSCAP_vpmu", value: 1 << 7, doc: "Virtual PMU." },
    { name: "XEN_SYSCTL_PHYSCAP_gnttab_v1", value: 1 << 8, doc: "Grant table v1." },
    { name: "XEN_SYSCTL_PHYSCAP_gnttab_v2", value: 1 << 9, doc: "Grant table v2." },
  ],
});

export const xenSysctlMisc = constants({
  name: "XEN_SYSCTL_MISC",
  origin: "xen",
  header,
  doc: "sysctl interface version.",
  values: [
    { name: "XEN_SYSCTL_INTERFACE_VERSION", value: 0x15, doc: "The version a sysctl caller must pass." },
  ],
});

export const sysctl = hypercall({
  name: "sysctl",
  number: 35,
  origin: "xen",
  header,
  doc: "Host-wide control and queries for the toolstack (dom0 only).",
  subopPrefix: "XEN_SYSCTL_",
  privileged: true,
  args: [{ name: "u_sysctl", kind: "struct", doc: "Pointer to a struct xen_sysctl." }],
  envelope: {
    header: "xen_sysctl_header",
    cmdField: "cmd",
    versionField: "interface_version",
    version: 0x15,
    payloadOffset: 8,
    size: 136,
  },
  subops: [
    {
      name: "physinfo",
      number: 3,
      arg: "xen_sysctl_physinfo",
      privileged: true,
      doc: "Host CPUs and memory.",
      errors: [],
      example: [
        "const p = k.hc.sysctl.physinfo({});",
        "k.print(`${p.nr_cpus} CPUs, ${p.free_pages} of ${p.total_pages} pages free`);",
      ],
    },
    {
      name: "getdomaininfolist",
      number: 6,
      arg: "xen_sysctl_getdomaininfolist",
      privileged: true,
      doc: "List domains (what `pvkit list` shows).",
      errors: [{ errno: "EINVAL", when: "`max_domains` is above 1024" }],
      example: [
        "const page = k.grants.share(0); // a page of our own whose address we know (lent to dom0)",
        "const max = Math.floor(4096 / XenDomctlGetdomaininfo.size);",
        "const r = k.hc.sysctl.getdomaininfolist({ first_domain: 0, max_domains: max, buffer: BigInt(page.pfn) * 4096n });",
        "for (let i = 0; i < r.num_domains; i++)",
        "  k.print(XenDomctlGetdomaininfo.decode(page.view, i * XenDomctlGetdomaininfo.size).domain);",
      ],
    },
  ],
});
