/**
 * pvkit_op: pvkit's own hypercall, first of the private range (abi.privateHypercallBase = 64).
 *
 * Xen's toolstack builds a PV domain by loading an ELF kernel into the new domain's memory and
 * writing its page tables and start_info through foreign mappings. A pvkit domain is a worker
 * thread running a guest program (an ES module), so the builder instead tells the hypervisor which
 * module the domain's worker runs and with what command line, and then asks it to start the vCPU
 * worker. PVKIT_OP_build does the rest of libxenguest's job (memory, start_info, rings, event
 * channels, reserved grants). The hypervisor also keeps each domain's console_io output; dom0's
 * console daemon reads it here (Xen's XEN_SYSCTL_readconsole reads only the hypervisor's own
 * ring). docs/abi.md explains.
 */
import { constants, hypercall, struct } from "../schema.ts";

export const pvkitSetKernel = struct({
  name: "pvkit_set_kernel",
  origin: "pvkit",
  doc: "PVKIT_OP_set_kernel: the guest program (module URL) and command line a new domain runs.",
  size: 32,
  fields: [
    { name: "domid", type: "u16", doc: "The domain being built (created, not yet started)." },
    {
      name: "inspector_port",
      type: "u16",
      dir: "out",
      doc: "With PVKIT_SET_KERNEL_INSPECT: the host port of the worker's inspector, else 0.",
    },
    { name: "kernel_len", type: "u32", doc: "Bytes of the module URL at `kernel` (UTF-8, at most 4096)." },
    { name: "cmdline_len", type: "u32", doc: "Bytes of the command line at `cmdline` (at most 1023)." },
    { name: "flags", type: "u32", doc: "PVKIT_SET_KERNEL_* flags." },
    { name: "kernel", type: "ptr", doc: "Guest address of the module URL (file: or data: URL)." },
    { name: "cmdline", type: "ptr", doc: "Guest address of the command line (start_info.cmd_line)." },
  ],
});

export const pvkitSetKernelFlags = constants({
  name: "PVKIT_SET_KERNEL",
  origin: "pvkit",
  doc: "pvkit_set_kernel.flags.",
  values: [
    {
      name: "PVKIT_SET_KERNEL_INSPECT",
      value: 1 << 0,
      doc: "Open a V8 inspector on the domain's worker (debugging); its port is returned.",
    },
    {
      name: "PVKIT_SET_KERNEL_INSPECT_BRK",
      value: 1 << 1,
      doc:
        "With PVKIT_SET_KERNEL_INSPECT: the worker waits, before any of the domain's code runs, " +
        "until a debugger attaches and tells it to run (node --inspect-brk).",
    },
  ],
});

export const pvkitBuild = struct({
  name: "pvkit_build",
  origin: "pvkit",
  doc:
    "PVKIT_OP_build: what libxenguest's PV builder does, done by the hypervisor: populate the " +
    "domain's memory, allocate its xenstore and console ring pages, allocate unbound event " +
    "channels for them (remote ends: store_domid / console_domid), grant the rings to those " +
    "domains at GNTTAB_RESERVED_XENSTORE / GNTTAB_RESERVED_CONSOLE and write start_info. The " +
    "domain stays paused.",
  size: 48,
  fields: [
    { name: "domid", type: "u16", doc: "The domain being built." },
    { name: "store_domid", type: "u16", doc: "Domain running xenstored (0)." },
    { name: "console_domid", type: "u16", doc: "Domain running the console backend (0)." },
    { name: "pad", type: "u16", doc: "Padding, must be 0." },
    { name: "nr_pages", type: "u64", doc: "Pages to populate (at most the domain's max_mem)." },
    { name: "start_info_gfn", type: "u64", dir: "out", doc: "Frame of the domain's start_info." },
    { name: "store_gfn", type: "u64", dir: "out", doc: "Frame of the xenstore ring (start_info.store_mfn)." },
    { name: "console_gfn", type: "u64", dir: "out", doc: "Frame of the console ring (console.domU.mfn)." },
    { name: "store_port", type: "u32", dir: "out", doc: "The domain's xenstore event channel (unbound)." },
    { name: "console_port", type: "u32", dir: "out", doc: "The domain's console event channel (unbound)." },
  ],
});

export const pvkitDomid = struct({
  name: "pvkit_domid",
  origin: "pvkit",
  doc: "A sub-op argument that is just a domain id.",
  size: 4,
  fields: [
    { name: "domid", type: "u16", doc: "Target domain." },
    { name: "pad", type: "u16", doc: "Padding, must be 0." },
  ],
});

export const pvkitConsoleRead = struct({
  name: "pvkit_console_read",
  origin: "pvkit",
  doc:
    "PVKIT_OP_console_read: copy bytes of a domain's console_io output log, from byte position " +
    "`cons` of the log, into `buffer`. The hypervisor keeps a bounded log per domain; a reader " +
    "that fell behind gets the oldest bytes still kept and `cons` tells it where it now is.",
  size: 32,
  fields: [
    { name: "domid", type: "u16", doc: "Domain whose log to read (DOMID_XEN: the hypervisor's own)." },
    { name: "pad", type: "u16", doc: "Padding, must be 0." },
    { name: "len", type: "u32", doc: "Size of `buffer`." },
    { name: "buffer", type: "ptr", doc: "Guest address to copy the bytes to." },
    {
      name: "cons",
      type: "u64",
      dir: "inout",
      doc: "Log position to read from; on return, the position after.",
    },
    { name: "count", type: "u32", dir: "out", doc: "Bytes copied." },
    { name: "pad2", type: "u32", doc: "Padding, must be 0." },
  ],
});

export const pvkitDomainStats = struct({
  name: "pvkit_domain_stats",
  origin: "pvkit",
  doc:
    "PVKIT_OP_domain_stats: what a domain has asked of the hypervisor since it was created, for " +
    "`pvkit top` (rates come from two readings). Xen's getdomaininfo keeps its layout; these " +
    "counters are pvkit's own.",
  size: 24,
  fields: [
    { name: "domid", type: "u16", doc: "The domain to read." },
    { name: "pad", type: "u16", doc: "Padding, must be 0." },
    { name: "pad2", type: "u32", doc: "Padding, must be 0." },
    { name: "hypercalls", type: "u64", dir: "out", doc: "Hypercalls the domain has made." },
    { name: "events_sent", type: "u64", dir: "out", doc: "EVTCHNOP_send calls the domain has made." },
  ],
});

export const pvkitPoolInfo = struct({
  name: "pvkit_pool_info",
  origin: "pvkit",
  doc:
    "PVKIT_OP_pool_info: the warm pool of domU workers started ahead of need (`pvkit up --pool N`), " +
    "for `pvkit info`.",
  size: 24,
  fields: [
    { name: "size", type: "u32", dir: "out", doc: "Workers the pool keeps ready (0: no pool)." },
    { name: "ready", type: "u32", dir: "out", doc: "Idle workers ready now." },
    { name: "served", type: "u64", dir: "out", doc: "Domains started with a pooled worker." },
    {
      name: "cold",
      type: "u64",
      dir: "out",
      doc: "Domains started without one (the pool was empty or of another size).",
    },
  ],
});

export const pvkitOp = hypercall({
  name: "pvkit_op",
  number: 64,
  origin: "pvkit",
  doc: "pvkit's domain-builder and console operations for the toolstack (dom0 only).",
  subopPrefix: "PVKIT_OP_",
  privileged: true,
  args: [
    { name: "cmd", kind: "subop", doc: "PVKIT_OP_*" },
    { name: "arg", kind: "struct", doc: "Pointer to the sub-op's struct." },
  ],
  subops: [
    {
      name: "set_kernel",
      number: 0,
      arg: "pvkit_set_kernel",
      privileged: true,
      doc: "Set the guest program and command line of a domain that has not started.",
      errors: [
        { errno: "ESRCH", when: "`domid` is not a domain" },
        {
          errno: "EINVAL",
          when: "the domain is already built; `kernel_len` is 0 or above 4096, or `cmdline_len` above 1023; a string is not UTF-8; the program is not a `file:` URL",
        },
      ],
      example: [
        "// dom0's toolstack, between createdomain and build: both strings in a page of dom0's.",
        "const page = k.grants.share(0); // a page of our own whose address we know (lent to dom0)",
        'const url = new TextEncoder().encode("file:///srv/guests/hello.ts");',
        "new Uint8Array(page.view.buffer, page.view.byteOffset).set(url);",
        "const addr = BigInt(page.pfn) * 4096n;",
        "k.hc.pvkitOp.setKernel({ domid: 5, kernel: addr, kernel_len: url.length, cmdline: 0n, cmdline_len: 0 });",
      ],
    },
    {
      name: "start",
      number: 1,
      arg: "pvkit_domid",
      privileged: true,
      doc: "Start the domain's vCPU worker once the builder is done (then unpause it as in Xen).",
      errors: [
        { errno: "ESRCH", when: "`domid` is not a live domain" },
        { errno: "EINVAL", when: "the domain has not been built (PVKIT_OP_build)" },
      ],
      example: ["if (k.privileged) k.hc.pvkitOp.start({ domid: 5 }); // its vCPU runs from here"],
    },
    {
      name: "console_read",
      number: 2,
      arg: "pvkit_console_read",
      privileged: true,
      doc: "Read a domain's console_io log.",
      errors: [
        { errno: "ESRCH", when: "`domid` is neither a domain nor DOMID_XEN (the hypervisor's own log)" },
      ],
      example: [
        "const page = k.grants.share(0); // a page of our own whose address we know (lent to dom0)",
        "const r = k.hc.pvkitOp.consoleRead({ domid: DOMID_XEN, buffer: BigInt(page.pfn) * 4096n, len: 4096, cons: 0n });",
        "k.print(new TextDecoder().decode(new Uint8Array(page.view.buffer, page.view.byteOffset, r.count)));",
        "// r.cons: where the next read starts; older text may have gone in between.",
      ],
    },
    {
      name: "build",
      number: 3,
      arg: "pvkit_build",
      privileged: true,
      doc: "Build a created domain: memory, start_info, xenstore and console rings, ports, grants.",
      errors: [
        { errno: "ESRCH", when: "`domid` is not a domain" },
        { errno: "EEXIST", when: "the domain is already built" },
        {
          errno: "EINVAL",
          when: "`nr_pages` is below 16; `store_domid` is not a domain, or `console_domid` differs from it",
        },
        {
          errno: "ENOMEM",
          when: "`nr_pages` is above the domain's maximum (domctl max_mem), or the machine has no frames left",
        },
      ],
      example: [
        "if (k.privileged) {",
        "  const b = k.hc.pvkitOp.build({ domid: 5, nr_pages: 1024n, store_domid: 0, console_domid: 0 });",
        "  k.print(`xenstore ring at gfn ${b.store_gfn}, port ${b.store_port}`);",
        "}",
      ],
    },
    {
      name: "domain_stats",
      number: 4,
      arg: "pvkit_domain_stats",
      privileged: true,
      doc: "Read a domain's hypercall and event counters.",
      errors: [{ errno: "ESRCH", when: "`domid` is not a domain" }],
      example: [
        "const s = k.hc.pvkitOp.domainStats({ domid: 1 });",
        "k.print(`domain 1: ${s.hypercalls} hypercalls, ${s.events_sent} sends`);",
      ],
    },
    {
      name: "pool_info",
      number: 5,
      arg: "pvkit_pool_info",
      privileged: true,
      doc: "Read the warm pool's size and counters.",
      errors: [],
      example: [
        "const p = k.hc.pvkitOp.poolInfo({});",
        "k.print(`pool: ${p.ready} of ${p.size} ready; ${p.served} domains served, ${p.cold} cold`);",
      ],
    },
  ],
});
