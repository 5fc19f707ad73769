/**
 * HYPERVISOR_event_channel_op: the EVTCHNOP_* handlers, thin adapters from the decoded structs to
 * EventChannels. The dispatcher has already copied the struct in; a handler sets the out fields and
 * returns 0 or -errno (the struct is copied back only on success).
 * Rule: the context must say who is calling (domid, privileged) and carry the EventChannels.
 */
import type { HypercallContext } from "@pvkit/abi";
import { EVTCHNSTAT_interdomain, EVTCHNSTAT_unbound, EVTCHNSTAT_virq } from "../evtchn/consts.ts";
import type { EventChannels } from "../evtchn/evtchn.ts";

/** What these handlers need from the core's per-call context (DomainContext provides it). */
export interface EvtchnCallContext extends HypercallContext {
  /** The calling domain. */
  readonly domid: number;
  /** The hypervisor's event channels. */
  readonly evtchn: EventChannels;
  /** The caller's counters (`pvkit top`'s EV/s counts its EVTCHNOP_send calls). */
  readonly domain: { eventsSent: number };
}

// The argument shapes, field for field as the generated codecs in @pvkit/abi/layout decode them
// (C names). Declared structurally so this file does not depend on when codegen runs.
interface AllocUnbound {
  dom: number;
  remote_dom: number;
  port: number;
}
interface BindInterdomain {
  remote_dom: number;
  remote_port: number;
  local_port: number;
}
interface BindVirq {
  virq: number;
  vcpu: number;
  port: number;
}
interface BindIpi {
  vcpu: number;
  port: number;
}
interface PortArg {
  port: number;
}
interface StatusU {
  unbound?: { dom: number };
  interdomain?: { dom: number; port: number };
  pirq?: number;
  virq?: number;
}
interface Status {
  dom: number;
  port: number;
  status: number;
  vcpu: number;
  u: StatusU;
}

/** Stores a port (>= 1) in the out field, or passes an errno (< 0) through. */
function out(result: number, set: (port: number) => void): number {
  if (result < 0) return result;
  set(result);
  return 0;
}

/** The `eventChannelOp` namespace of HypercallHandlers. */
export const eventChannelOp = {
  allocUnbound(ctx: EvtchnCallContext, arg: AllocUnbound): number {
    const r = ctx.evtchn.allocUnbound(ctx.domid, ctx.privileged, arg.dom, arg.remote_dom);
    return out(r, (p) => (arg.port = p));
  },

  bindInterdomain(ctx: EvtchnCallContext, arg: BindInterdomain): number {
    const r = ctx.evtchn.bindInterdomain(ctx.domid, arg.remote_dom, arg.remote_port);
    return out(r, (p) => (arg.local_port = p));
  },

  bindVirq(ctx: EvtchnCallContext, arg: BindVirq): number {
    return out(ctx.evtchn.bindVirq(ctx.domid, arg.virq, arg.vcpu), (p) => (arg.port = p));
  },

  bindIpi(ctx: EvtchnCallContext, arg: BindIpi): number {
    return out(ctx.evtchn.bindIpi(ctx.domid, arg.vcpu), (p) => (arg.port = p));
  },

  close(ctx: EvtchnCallContext, arg: PortArg): number {
    return ctx.evtchn.close(ctx.domid, arg.port);
  },

  send(ctx: EvtchnCallContext, arg: PortArg): number {
    ctx.domain.eventsSent++;
    return ctx.evtchn.send(ctx.domid, arg.port);
  },

  status(ctx: EvtchnCallContext, arg: Status): number {
    const st = ctx.evtchn.status(ctx.domid, ctx.privileged, arg.dom, arg.port);
    if (typeof st === "number") return st;
    arg.status = st.status;
    arg.vcpu = st.vcpu;
    // The union is written as exactly one variant; closed and ipi carry nothing (all zero).
    if (st.status === EVTCHNSTAT_unbound) arg.u = { unbound: { dom: st.dom } };
    else if (st.status === EVTCHNSTAT_interdomain) arg.u = { interdomain: { dom: st.dom, port: st.port } };
    else if (st.status === EVTCHNSTAT_virq) arg.u = { virq: st.virq };
    else arg.u = { pirq: 0 };
    return 0;
  },

  unmask(ctx: EvtchnCallContext, arg: PortArg): number {
    return ctx.evtchn.unmask(ctx.domid, arg.port);
  },
};
