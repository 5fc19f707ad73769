/**
 * Event channels (xen/event_channel.h): the virtual interrupt lines between domains, from VIRQs and
 * between vCPUs. Numbers and layouts are Xen's; the 2-level ABI lives in shared_info (see xen.ts).
 */
import { constants, hypercall, otherDomainErrors, struct, union } from "../schema.ts";

const header = "xen/event_channel.h";

export const evtchnAllocUnbound = struct({
  name: "evtchn_alloc_unbound",
  origin: "xen",
  header,
  doc: "Allocate a port in domain `dom` that `remote_dom` may later bind to with bind_interdomain.",
  size: 8,
  fields: [
    { name: "dom", type: "u16", doc: "Domain to allocate in (DOMID_SELF, or any if privileged)." },
    { name: "remote_dom", type: "u16", doc: "Domain allowed to connect." },
    { name: "port", type: "u32", dir: "out", doc: "The new unbound port." },
  ],
});

export const evtchnBindInterdomain = struct({
  name: "evtchn_bind_interdomain",
  origin: "xen",
  header,
  doc: "Connect a new local port to an unbound port that `remote_dom` allocated for us.",
  size: 12,
  fields: [
    { name: "remote_dom", type: "u16", doc: "Domain that owns the unbound port." },
    { name: "remote_port", type: "u32", doc: "The unbound port in remote_dom." },
    { name: "local_port", type: "u32", dir: "out", doc: "The new local port, now interdomain." },
  ],
});

export const evtchnBindVirq = struct({
  name: "evtchn_bind_virq",
  origin: "xen",
  header,
  doc: "Bind a virtual IRQ (VIRQ_*) of a vCPU to a new local port.",
  size: 12,
  fields: [
    { name: "virq", type: "u32", doc: "VIRQ_* number." },
    { name: "vcpu", type: "u32", doc: "vCPU that receives it." },
    { name: "port", type: "u32", dir: "out", doc: "The new port." },
  ],
});

export const evtchnBindIpi = struct({
  name: "evtchn_bind_ipi",
  origin: "xen",
  header,
  doc: "Allocate a port for inter-processor interrupts to `vcpu` of the calling domain.",
  size: 8,
  fields: [
    { name: "vcpu", type: "u32", doc: "Target vCPU." },
    { name: "port", type: "u32", dir: "out", doc: "The new port." },
  ],
});

export const evtchnClose = struct({
  name: "evtchn_close",
  origin: "xen",
  header,
  doc: "Close a port; an interdomain peer's end goes back to unbound.",
  size: 4,
  fields: [{ name: "port", type: "u32", doc: "Port to close." }],
});

export const evtchnSend = struct({
  name: "evtchn_send",
  origin: "xen",
  header,
  doc: "Notify the other end of a port (sets it pending there and wakes its vCPU).",
  size: 4,
  fields: [{ name: "port", type: "u32", doc: "Local port to send on." }],
});

export const evtchnStatusUnbound = struct({
  name: "evtchn_status_unbound",
  origin: "xen",
  header,
  doc: "evtchn_status.u.unbound: who may bind.",
  size: 2,
  fields: [{ name: "dom", type: "u16", doc: "Remote domain allowed to bind." }],
});

export const evtchnStatusInterdomain = struct({
  name: "evtchn_status_interdomain",
  origin: "xen",
  header,
  doc: "evtchn_status.u.interdomain: the connected peer.",
  size: 8,
  fields: [
    { name: "dom", type: "u16", doc: "Peer domain." },
    { name: "port", type: "u32", doc: "Peer port." },
  ],
});

export const evtchnStatusU = union({
  name: "evtchn_status_u",
  origin: "xen",
  header,
  doc: "evtchn_status.u: what the port is bound to, by status.",
  size: 8,
  variants: [
    { name: "unbound", type: { struct: "evtchn_status_unbound" }, doc: "EVTCHNSTAT_unbound" },
    { name: "interdomain", type: { struct: "evtchn_status_interdomain" }, doc: "EVTCHNSTAT_interdomain" },
    { name: "pirq", type: "u32", doc: "EVTCHNSTAT_pirq" },
    { name: "virq", type: "u32", doc: "EVTCHNSTAT_virq" },
  ],
});

export const evtchnStatus = struct({
  name: "evtchn_status",
  origin: "xen",
  header,
  doc: "Query a port's state. Only the control domain may ask about another domain's ports.",
  size: 24,
  fields: [
    { name: "dom", type: "u16", doc: "Domain owning the port (DOMID_SELF)." },
    { name: "port", type: "u32", doc: "Port to query." },
    { name: "status", type: "u32", dir: "out", doc: "EVTCHNSTAT_*." },
    { name: "vcpu", type: "u32", dir: "out", doc: "vCPU the port notifies." },
    { name: "u", type: { union: "evtchn_status_u" }, dir: "out", doc: "Binding details, by status." },
  ],
});

export const evtchnUnmask = struct({
  name: "evtchn_unmask",
  origin: "xen",
  header,
  doc: "Clear a port's mask bit; if it is pending, the upcall is re-raised.",
  size: 4,
  fields: [{ name: "port", type: "u32", doc: "Port to unmask." }],
});

export const evtchnStat = constants({
  name: "EVTCHNSTAT",
  origin: "xen",
  header,
  doc: "evtchn_status.status values.",
  values: [
    { name: "EVTCHNSTAT_closed", value: 0, doc: "Channel is not in use." },
    { name: "EVTCHNSTAT_unbound", value: 1, doc: "Waiting for an interdomain connection." },
    { name: "EVTCHNSTAT_interdomain", value: 2, doc: "Connected to a remote domain." },
    { name: "EVTCHNSTAT_pirq", value: 3, doc: "Bound to a physical IRQ (unused by pvkit)." },
    { name: "EVTCHNSTAT_virq", value: 4, doc: "Bound to a virtual IRQ." },
    { name: "EVTCHNSTAT_ipi", value: 5, doc: "Bound to an IPI." },
  ],
});

export const evtchn2l = constants({
  name: "EVTCHN_2L",
  origin: "xen",
  header,
  doc: "The 2-level event channel ABI: one pending and one mask bit per port in shared_info.",
  values: [
    {
      name: "EVTCHN_2L_NR_CHANNELS",
      value: 4096,
      doc: "Ports of the 2-level ABI on x86_64: 64 selector bits x 64 bits per word.",
    },
  ],
});

export const eventChannelOp = hypercall({
  name: "event_channel_op",
  number: 32,
  origin: "xen",
  header,
  doc: "Event-channel operations: allocate, bind, send, close and query ports.",
  subopPrefix: "EVTCHNOP_",
  args: [
    { name: "cmd", kind: "subop", doc: "EVTCHNOP_*" },
    { name: "arg", kind: "struct", doc: "Pointer to the sub-op's struct." },
  ],
  subops: [
    {
      name: "bind_interdomain",
      number: 0,
      arg: "evtchn_bind_interdomain",
      doc: "Connect to a remote unbound port.",
      errors: [
        { errno: "ESRCH", when: "`remote_dom` is not a live domain" },
        {
          errno: "EINVAL",
          when: "`remote_port` is not an unbound port of `remote_dom` offered to the caller",
        },
        { errno: "ENOSPC", when: "the caller has no free port" },
      ],
      example: [
        "// Connect to the port dom0 allocated for us (it published the number in xenstore).",
        'const remotePort = Number(await k.xenstore.read("data/dom0-port"));',
        "const { local_port } = k.hc.eventChannelOp.bindInterdomain({ remote_dom: 0, remote_port: remotePort });",
        "k.hc.eventChannelOp.send({ port: local_port });",
      ],
    },
    {
      name: "bind_virq",
      number: 1,
      arg: "evtchn_bind_virq",
      doc: "Bind a VIRQ to a new port.",
      errors: [
        {
          errno: "EINVAL",
          when: "`virq` is not below NR_VIRQS (24), or a global VIRQ is asked for on a vCPU other than 0",
        },
        { errno: "ENOENT", when: "`vcpu` is not a vCPU of the caller (pvkit domains have vCPU 0 only)" },
        {
          errno: "EEXIST",
          when: "`virq` is already bound on that vCPU (the kernel binds VIRQ_TIMER itself)",
        },
        { errno: "ENOSPC", when: "the caller has no free port" },
      ],
      example: [
        "const { port } = k.hc.eventChannelOp.bindVirq({ virq: VIRQ_DEBUG, vcpu: 0 });",
        "k.print(`VIRQ_DEBUG arrives on port ${port}`);",
      ],
    },
    {
      name: "close",
      number: 3,
      arg: "evtchn_close",
      doc: "Close a port.",
      errors: [{ errno: "EINVAL", when: "`port` is not a port in use by the caller" }],
      example: [
        "const { port } = k.hc.eventChannelOp.allocUnbound({ dom: DOMID_SELF, remote_dom: 0 });",
        "k.hc.eventChannelOp.close({ port });",
      ],
    },
    {
      name: "send",
      number: 4,
      arg: "evtchn_send",
      doc: "Notify the remote end.",
      errors: [
        {
          errno: "EINVAL",
          when: "`port` is not in use, or is bound to a VIRQ (those are raised by the hypervisor, not sent)",
        },
      ],
      example: [
        "// An IPI port notifies our own vCPU; on an unbound port a send is dropped, as in Xen.",
        "const { port } = k.hc.eventChannelOp.bindIpi({ vcpu: 0 });",
        "k.hc.eventChannelOp.send({ port });",
      ],
    },
    {
      name: "status",
      number: 5,
      arg: "evtchn_status",
      doc: "Query a port.",
      errors: [
        ...otherDomainErrors("`dom`", "`dom` is not a live domain"),
        { errno: "EINVAL", when: "`port` is not below the domain's port limit (4096)" },
      ],
      example: [
        "const st = k.hc.eventChannelOp.status({ dom: DOMID_SELF, port: 1 });",
        "if (st.status === EVTCHNSTAT_interdomain)",
        "  k.print(`port 1 talks to port ${st.u.interdomain?.port} of domain ${st.u.interdomain?.dom}`);",
      ],
    },
    {
      name: "alloc_unbound",
      number: 6,
      arg: "evtchn_alloc_unbound",
      doc: "Allocate an unbound port.",
      errors: [
        ...otherDomainErrors("`dom`", "`dom` or `remote_dom` is not a live domain"),
        { errno: "ENOSPC", when: "`dom` has no free port" },
      ],
      example: [
        "// A port dom0 may bind to; it learns the number from xenstore.",
        "const { port } = k.hc.eventChannelOp.allocUnbound({ dom: DOMID_SELF, remote_dom: 0 });",
        'await k.xenstore.write("data/my-port", String(port));',
      ],
    },
    {
      name: "bind_ipi",
      number: 7,
      arg: "evtchn_bind_ipi",
      doc: "Allocate an IPI port.",
      errors: [
        { errno: "ENOENT", when: "`vcpu` is not a vCPU of the caller (pvkit domains have vCPU 0 only)" },
        { errno: "ENOSPC", when: "the caller has no free port" },
      ],
      example: ["const { port } = k.hc.eventChannelOp.bindIpi({ vcpu: 0 });"],
    },
    {
      name: "unmask",
      number: 9,
      arg: "evtchn_unmask",
      doc: "Unmask a port.",
      errors: [{ errno: "EINVAL", when: "`port` is 0 or not below the caller's port limit (4096)" }],
      example: [
        "// Clears the port's mask bit; an event that arrived while masked is delivered now.",
        "const { port } = k.hc.eventChannelOp.bindIpi({ vcpu: 0 });",
        "k.hc.eventChannelOp.unmask({ port });",
      ],
    },
  ],
});
