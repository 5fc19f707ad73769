/**
 * The core of xen/xen.h (x86_64): domain ids, VIRQs, start_info and the shared_info page with its
 * per-vCPU vcpu_info and time records. Numbers and layouts are Xen's.
 */
import { constants, struct, union } from "../schema.ts";

const header = "xen/xen.h";

export const domid = constants({
  name: "DOMID",
  origin: "xen",
  header,
  doc: "Reserved domain ids (domid_t is u16). Ids from DOMID_FIRST_RESERVED up never name a real domain.",
  values: [
    { name: "DOMID_FIRST_RESERVED", value: 0x7ff0, doc: "First reserved id." },
    { name: "DOMID_SELF", value: 0x7ff0, doc: "The calling domain." },
    { name: "DOMID_IO", value: 0x7ff1, doc: "Owner of I/O pages (unused by pvkit)." },
    { name: "DOMID_XEN", value: 0x7ff2, doc: "The hypervisor itself (owner of its own pages)." },
    { name: "DOMID_COW", value: 0x7ff3, doc: "Owner of shared copy-on-write pages." },
    { name: "DOMID_INVALID", value: 0x7ff4, doc: "No domain: an empty or failed lookup." },
    { name: "DOMID_IDLE", value: 0x7fff, doc: "The idle domain." },
    { name: "DOMID_MASK", value: 0x7fff, doc: "Mask of valid domain id bits." },
  ],
});

export const virq = constants({
  name: "VIRQ",
  origin: "xen",
  header,
  doc: "Virtual IRQs, bound to ports with EVTCHNOP_bind_virq. V: per vCPU; G: global (delivered to dom0).",
  values: [
    { name: "VIRQ_TIMER", value: 0, doc: "V. Timebase update and/or the requested timeout fired." },
    { name: "VIRQ_DEBUG", value: 1, doc: "V. Request to dump debug info." },
    { name: "VIRQ_CONSOLE", value: 2, doc: "G. (dom0) Bytes received on the emergency console." },
    { name: "VIRQ_DOM_EXC", value: 3, doc: "G. (dom0) A domain shut down, crashed or died." },
    { name: "VIRQ_TBUF", value: 4, doc: "G. (dom0) Trace buffer has records." },
    { name: "VIRQ_DEBUGGER", value: 6, doc: "G. (dom0) A domain paused for debugging." },
    { name: "VIRQ_XENOPROF", value: 7, doc: "V. Profiling sample available." },
    { name: "VIRQ_CON_RING", value: 8, doc: "G. (dom0) Bytes received on the console ring." },
    { name: "VIRQ_PCPU_STATE", value: 9, doc: "G. (dom0) Physical CPU state changed." },
    { name: "VIRQ_MEM_EVENT", value: 10, doc: "G. (dom0) A memory event occurred." },
    { name: "VIRQ_ARGO", value: 11, doc: "G. Argo message notification." },
    { name: "VIRQ_ENOMEM", value: 12, doc: "G. (dom0) Hypervisor low on heap memory." },
    { name: "VIRQ_XENPMU", value: 13, doc: "V. PMC interrupt." },
    { name: "VIRQ_ARCH_0", value: 16, doc: "First architecture-specific VIRQ (16..23)." },
    { name: "NR_VIRQS", value: 24, doc: "Number of VIRQs (ports of bind_virq must be below this)." },
  ],
});

export const sif = constants({
  name: "SIF",
  origin: "xen",
  header,
  doc: "start_info.flags bits.",
  values: [
    { name: "SIF_PRIVILEGED", value: 1 << 0, doc: "The domain is privileged." },
    { name: "SIF_INITDOMAIN", value: 1 << 1, doc: "The domain is the initial control domain (dom0)." },
    { name: "SIF_MULTIBOOT_MOD", value: 1 << 2, doc: "mod_start is a multiboot module." },
    { name: "SIF_MOD_START_PFN", value: 1 << 3, doc: "mod_start is a PFN, not a virtual address." },
    { name: "SIF_VIRT_P2M_4TOOLS", value: 1 << 4, doc: "Tools understand a virtually mapped p2m list." },
    { name: "SIF_PM_MASK", value: 0xff << 8, doc: "Reserved for power-management options." },
  ],
});

export const xenMisc = constants({
  name: "XEN_MISC",
  origin: "xen",
  header,
  doc: "Sizes fixed by xen.h.",
  values: [
    { name: "XEN_LEGACY_MAX_VCPUS", value: 32, doc: "vcpu_info slots in shared_info (x86)." },
    { name: "MAX_GUEST_CMDLINE", value: 1024, doc: "Bytes of start_info.cmd_line." },
    { name: "XEN_PVCLOCK_TSC_STABLE_BIT", value: 1 << 0, doc: "vcpu_time_info.flags: TSC is stable." },
    { name: "XEN_PVCLOCK_GUEST_STOPPED", value: 1 << 1, doc: "vcpu_time_info.flags: guest was paused." },
  ],
});

export const vcpuTimeInfo = struct({
  name: "vcpu_time_info",
  origin: "xen",
  header,
  doc:
    "Per-vCPU system time, seqlock-style: `version` is odd while the hypervisor updates. Time now = " +
    "system_time + (((tsc - tsc_timestamp) << tsc_shift) * tsc_to_system_mul) >> 32.",
  size: 32,
  fields: [
    { name: "version", type: "u32", doc: "Update counter; odd while an update is in progress." },
    { name: "pad0", type: "u32", doc: "Padding." },
    { name: "tsc_timestamp", type: "u64", doc: "TSC (pvkit: host ns counter) at the last update." },
    { name: "system_time", type: "u64", doc: "Nanoseconds since boot at the last update." },
    { name: "tsc_to_system_mul", type: "u32", doc: "TSC to ns multiplier (32.32 fixed point)." },
    { name: "tsc_shift", type: "i8", doc: "TSC shift applied before the multiply." },
    { name: "flags", type: "u8", doc: "XEN_PVCLOCK_* flags." },
    { name: "pad1", type: { array: "u8", length: 2 }, doc: "Padding." },
  ],
});

export const archVcpuInfo = struct({
  name: "arch_vcpu_info",
  origin: "xen",
  header: "xen/arch-x86/xen-x86_64.h",
  doc: "x86_64 part of vcpu_info.",
  size: 16,
  fields: [
    { name: "cr2", type: "u64", doc: "Faulting address of the last page fault (unused by pvkit)." },
    { name: "pad", type: "u64", doc: "Keeps sizeof(vcpu_info) == 64." },
  ],
});

export const vcpuInfo = struct({
  name: "vcpu_info",
  origin: "xen",
  header,
  doc: "Per-vCPU event state in shared_info: the upcall flag, its mask and the 2-level selector word.",
  size: 64,
  fields: [
    { name: "evtchn_upcall_pending", type: "u8", doc: "Set by the hypervisor when an event is pending." },
    { name: "evtchn_upcall_mask", type: "u8", doc: "Set by the guest to hold off upcalls." },
    { name: "evtchn_pending_sel", type: "u64", doc: "Bit i: word i of evtchn_pending has pending ports." },
    { name: "arch", type: { struct: "arch_vcpu_info" }, doc: "Architecture part." },
    { name: "time", type: { struct: "vcpu_time_info" }, doc: "This vCPU's system time." },
  ],
});

export const archSharedInfo = struct({
  name: "arch_shared_info",
  origin: "xen",
  header: "xen/arch-x86/xen.h",
  doc: "x86 part of shared_info (p2m bookkeeping for PV tools; pvkit keeps the layout).",
  size: 48,
  fields: [
    { name: "max_pfn", type: "u64", doc: "Highest pfn + 1 of the domain." },
    { name: "pfn_to_mfn_frame_list_list", type: "u64", doc: "Frame of the p2m frame list list." },
    { name: "nmi_reason", type: "u64", doc: "NMI reason bits." },
    { name: "p2m_cr3", type: "u64", doc: "cr3 of the p2m address space." },
    { name: "p2m_vaddr", type: "u64", doc: "Virtual address of the p2m list." },
    { name: "p2m_generation", type: "u64", doc: "Generation count of the p2m mapping." },
  ],
});

export const sharedInfo = struct({
  name: "shared_info",
  origin: "xen",
  header,
  doc:
    "The page the hypervisor shares with every domain: per-vCPU event state, the 2-level event " +
    "channel pending and mask bitmaps (4096 ports) and the wallclock.",
  size: 3136,
  fields: [
    {
      name: "vcpu_info",
      type: { array: { struct: "vcpu_info" }, length: 32 },
      doc: "XEN_LEGACY_MAX_VCPUS per-vCPU records.",
    },
    { name: "evtchn_pending", type: { array: "u64", length: 64 }, doc: "Pending bit per port." },
    { name: "evtchn_mask", type: { array: "u64", length: 64 }, doc: "Mask bit per port." },
    { name: "wc_version", type: "u32", doc: "Wallclock update counter (odd while updating)." },
    { name: "wc_sec", type: "u32", doc: "Wallclock seconds at system time 0 (low 32 bits)." },
    { name: "wc_nsec", type: "u32", doc: "Wallclock nanoseconds." },
    { name: "wc_sec_hi", type: "u32", doc: "High 32 bits of wc_sec." },
    { name: "arch", type: { struct: "arch_shared_info" }, doc: "Architecture part." },
  ],
});

export const startInfoConsoleDomU = struct({
  name: "start_info_console_domU",
  origin: "xen",
  header,
  doc: "start_info.console.domU: the console ring page and its event channel.",
  size: 16,
  fields: [
    { name: "mfn", type: "u64", doc: "Frame of the console ring (xencons_interface)." },
    { name: "evtchn", type: "u32", doc: "Event channel of the console ring." },
  ],
});

export const startInfoConsoleDom0 = struct({
  name: "start_info_console_dom0",
  origin: "xen",
  header,
  doc: "start_info.console.dom0: where dom0's console_info lies.",
  size: 8,
  fields: [
    { name: "info_off", type: "u32", doc: "Offset of the console_info struct." },
    { name: "info_size", type: "u32", doc: "Its size." },
  ],
});

export const startInfoConsole = union({
  name: "start_info_console",
  origin: "xen",
  header,
  doc: "start_info.console: a domU's console ring, or dom0's console info.",
  size: 16,
  variants: [
    { name: "domU", type: { struct: "start_info_console_domU" }, doc: "For unprivileged domains." },
    { name: "dom0", type: { struct: "start_info_console_dom0" }, doc: "For the initial domain." },
  ],
});

export const startInfo = struct({
  name: "start_info",
  origin: "xen",
  header,
  doc:
    "What a PV domain finds at boot: its page count, shared_info, xenstore and console rings and " +
    "command line. pvkit keeps the page-table fields (pt_base, mfn_list, ...) for layout only.",
  size: 1168,
  fields: [
    { name: "magic", type: { chars: 32 }, doc: '"xen-<version>-<platform>".' },
    { name: "nr_pages", type: "u64", doc: "Pages allocated to the domain." },
    { name: "shared_info", type: "u64", doc: "Machine address of the shared_info page." },
    { name: "flags", type: "u32", doc: "SIF_* flags." },
    { name: "store_mfn", type: "u64", doc: "Frame of the xenstore ring." },
    { name: "store_evtchn", type: "u32", doc: "Event channel of the xenstore ring." },
    { name: "console", type: { union: "start_info_console" }, doc: "Console ring (domU) or info (dom0)." },
    { name: "pt_base", type: "u64", doc: "Virtual address of the page directory (layout only)." },
    { name: "nr_pt_frames", type: "u64", doc: "Bootstrap page-table frames (layout only)." },
    { name: "mfn_list", type: "u64", doc: "Virtual address of the page-frame list." },
    { name: "mod_start", type: "u64", doc: "Address (or pfn) of the pre-loaded module." },
    { name: "mod_len", type: "u64", doc: "Size of the pre-loaded module in bytes." },
    { name: "cmd_line", type: { chars: 1024 }, doc: "Kernel command line (MAX_GUEST_CMDLINE)." },
    { name: "first_p2m_pfn", type: "u64", doc: "First pfn of the initial p2m table." },
    { name: "nr_p2m_frames", type: "u64", doc: "Pfns of the initial p2m table." },
  ],
});
