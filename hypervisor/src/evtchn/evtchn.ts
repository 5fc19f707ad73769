/**
 * Event channels (Xen's 2-level ABI): every domain's port table, the EVTCHNOP_* operations and the
 * hypervisor's own API (VIRQs, SCHEDOP_poll, domain destroy). Operations return Xen's convention:
 * >= 0 success, < 0 a negated errno; they validate every argument and never throw on bad input.
 * Rule: call from the trap-service thread only (the port tables are plain, unsynchronised JS state).
 */
import { SharedInfoBits } from "./bitmap.ts";
import {
  DOMID_SELF,
  EEXIST,
  EINVAL,
  ENOENT,
  ENOSPC,
  EPERM,
  ESRCH,
  EVTCHN_2L_NR_CHANNELS,
  EVTCHNSTAT_closed,
  EVTCHNSTAT_interdomain,
  EVTCHNSTAT_ipi,
  EVTCHNSTAT_unbound,
  EVTCHNSTAT_virq,
  NR_VIRQS,
  virqIsPerVcpu,
  XEN_LEGACY_MAX_VCPUS,
} from "./consts.ts";
import type { EvtchnHost } from "./host.ts";
import { type Channel, PortTable } from "./ports.ts";
import { evtchnFlow } from "../trace/flows.ts";
import type { Tracer } from "../trace/tracer.ts";

/** EVTCHNOP_status's answer (the evtchn_status out fields). */
export interface PortStatus {
  status: number;
  vcpu: number;
  /** unbound: the domain allowed to bind; interdomain: the peer domain. */
  dom: number;
  /** interdomain: the peer port. */
  port: number;
  /** virq: the VIRQ number. */
  virq: number;
}

/** Options for EventChannels. */
export interface EvtchnOptions {
  /** One past the highest port a domain may use (Xen's max_evtchns); default 4096, the 2L limit. */
  maxPorts?: number;
  /** Where interdomain sends are drawn as flows while tracing (trace/flows.ts). */
  trace?: Tracer;
}

/** All domains' event channels. */
export class EventChannels {
  private readonly tables = new Map<number, PortTable>();
  private readonly pages = new Map<number, SharedInfoBits>();
  private readonly maxPorts: number;
  private readonly trace?: Tracer;

  constructor(
    private readonly host: EvtchnHost,
    opts: EvtchnOptions = {},
  ) {
    this.maxPorts = Math.min(opts.maxPorts ?? EVTCHN_2L_NR_CHANNELS, EVTCHN_2L_NR_CHANNELS);
    this.trace = opts.trace;
  }

  /** The port table of an existing domain (created on first use), or undefined. */
  private table(domid: number): PortTable | undefined {
    let t = this.tables.get(domid);
    if (t === undefined && this.host.domainExists(domid)) {
      t = new PortTable(this.maxPorts);
      this.tables.set(domid, t);
    }
    return t;
  }

  private bits(domid: number): SharedInfoBits {
    let b = this.pages.get(domid);
    if (b === undefined) {
      b = new SharedInfoBits(this.host.sharedInfo(domid));
      this.pages.set(domid, b);
    }
    return b;
  }

  /** Resolves a `dom` argument: DOMID_SELF or self always, another domain only when privileged. */
  private target(caller: number, privileged: boolean, dom: number): number {
    const d = dom === DOMID_SELF ? caller : dom;
    if (d !== caller && !privileged) return -EPERM;
    return this.table(d) === undefined ? -ESRCH : d;
  }

  /**
   * Marks `port` of `domid` pending and, if it is unmasked and newly pending, raises the upcall on
   * `vcpu` (evtchn_2l_set_pending). Ordering matters: pending first, then mask test, then selector,
   * then upcall flag, so a guest scanning concurrently either sees the bit or gets a new upcall.
   */
  private setPending(domid: number, port: number, vcpu: number): void {
    const bits = this.bits(domid);
    if (!bits.testAndSetPending(port)) return; // already pending: the edge was delivered before
    this.host.portPending?.(domid, port);
    if (bits.isMasked(port)) return; // the guest will see it when it unmasks
    if (bits.raise(port, vcpu)) this.host.kick(domid, vcpu);
  }

  /** Binds the lowest free port of `t` to `ch`; returns it or -ENOSPC. */
  private static bind(t: PortTable, ch: Channel): number {
    const port = t.freePort();
    if (port === 0) return -ENOSPC;
    t.set(port, ch);
    return port;
  }

  /** EVTCHNOP_alloc_unbound: a port in `dom` that `remoteDom` may bind to. Returns the port. */
  allocUnbound(caller: number, privileged: boolean, dom: number, remoteDom: number): number {
    const d = this.target(caller, privileged, dom);
    if (d < 0) return d;
    const remote = remoteDom === DOMID_SELF ? caller : remoteDom;
    if (!this.host.domainExists(remote)) return -ESRCH;
    return EventChannels.bind(this.tables.get(d)!, { state: "unbound", vcpu: 0, remoteDom: remote });
  }

  /** EVTCHNOP_bind_interdomain: connect a new local port to `remoteDom`'s unbound `remotePort`. */
  bindInterdomain(caller: number, remoteDom: number, remotePort: number): number {
    const lt = this.table(caller);
    const rdom = remoteDom === DOMID_SELF ? caller : remoteDom;
    const rt = this.table(rdom);
    if (lt === undefined || rt === undefined) return -ESRCH;
    const rch = rt.get(remotePort);
    if (rch === undefined || rch.state !== "unbound" || rch.remoteDom !== caller) return -EINVAL;
    const lport = EventChannels.bind(lt, { state: "interdomain", vcpu: 0, remoteDom: rdom, remotePort });
    if (lport < 0) return lport;
    rt.set(remotePort, { state: "interdomain", vcpu: rch.vcpu, remoteDom: caller, remotePort: lport });
    // Like Xen, the new local end starts pending: anything the peer signalled before we bound is
    // not lost, and the binder's handler runs once to look at the shared ring.
    this.setPending(caller, lport, 0);
    return lport;
  }

  /** EVTCHNOP_bind_virq: bind `virq` of `vcpu` to a new port. Global VIRQs only on vCPU 0. */
  bindVirq(caller: number, virq: number, vcpu: number): number {
    const t = this.table(caller);
    if (t === undefined) return -ESRCH;
    if (!Number.isInteger(virq) || virq < 0 || virq >= NR_VIRQS) return -EINVAL;
    if (!virqIsPerVcpu(virq) && vcpu !== 0) return -EINVAL;
    if (!this.vcpuValid(caller, vcpu)) return -ENOENT;
    if (t.virq(virq, vcpu) !== 0) return -EEXIST;
    return EventChannels.bind(t, { state: "virq", vcpu, virq });
  }

  /** EVTCHNOP_bind_ipi: a port that notifies `vcpu` of the caller itself. */
  bindIpi(caller: number, vcpu: number): number {
    const t = this.table(caller);
    if (t === undefined) return -ESRCH;
    if (!this.vcpuValid(caller, vcpu)) return -ENOENT;
    return EventChannels.bind(t, { state: "ipi", vcpu });
  }

  /** A vCPU that exists and has a vcpu_info in shared_info (only the first 32 do, on x86_64). */
  private vcpuValid(domid: number, vcpu: number): boolean {
    const n = Math.min(this.host.vcpuCount(domid), XEN_LEGACY_MAX_VCPUS);
    return Number.isInteger(vcpu) && vcpu >= 0 && vcpu < n;
  }

  /** EVTCHNOP_close: free `port`; an interdomain peer goes back to unbound (waiting for us). */
  close(caller: number, port: number): number {
    const t = this.table(caller);
    if (t === undefined) return -ESRCH;
    const ch = t.get(port);
    if (ch === undefined) return -EINVAL;
    if (ch.state === "interdomain") {
      const rt = this.tables.get(ch.remoteDom);
      const rch = rt?.get(ch.remotePort);
      if (rt && rch?.state === "interdomain" && rch.remoteDom === caller && rch.remotePort === port) {
        rt.set(ch.remotePort, { state: "unbound", vcpu: rch.vcpu, remoteDom: caller });
      }
    }
    t.free(port);
    if (this.pages.has(caller) || this.host.domainExists(caller)) this.bits(caller).clearPending(port);
    return 0;
  }

  /** EVTCHNOP_send: notify the other end (interdomain) or our own vCPU (ipi). */
  send(caller: number, port: number): number {
    const ch = this.tables.get(caller)?.get(port);
    if (ch === undefined) return -EINVAL;
    switch (ch.state) {
      case "interdomain": {
        const rch = this.tables.get(ch.remoteDom)?.get(ch.remotePort);
        if (rch === undefined) return 0;
        if (this.trace?.enabled) evtchnFlow(this.trace, caller, port, ch.remoteDom, ch.remotePort, rch.vcpu);
        this.setPending(ch.remoteDom, ch.remotePort, rch.vcpu);
        return 0;
      }
      case "ipi":
        this.setPending(caller, port, ch.vcpu);
        return 0;
      case "unbound":
        return 0; // nobody is listening yet: Xen drops the notification silently
      default:
        return -EINVAL; // a VIRQ port is raised by the hypervisor, not sent on
    }
  }

  /** EVTCHNOP_status: what `port` of `dom` is bound to. */
  status(caller: number, privileged: boolean, dom: number, port: number): PortStatus | number {
    const d = this.target(caller, privileged, dom);
    if (d < 0) return d;
    const t = this.tables.get(d)!;
    if (!Number.isInteger(port) || port < 0 || port >= t.limit) return -EINVAL;
    const st: PortStatus = { status: EVTCHNSTAT_closed, vcpu: 0, dom: 0, port: 0, virq: 0 };
    const ch = t.get(port);
    if (ch === undefined) return st;
    st.vcpu = ch.vcpu;
    if (ch.state === "unbound") Object.assign(st, { status: EVTCHNSTAT_unbound, dom: ch.remoteDom });
    else if (ch.state === "interdomain") {
      Object.assign(st, { status: EVTCHNSTAT_interdomain, dom: ch.remoteDom, port: ch.remotePort });
    } else if (ch.state === "virq") Object.assign(st, { status: EVTCHNSTAT_virq, virq: ch.virq });
    else st.status = EVTCHNSTAT_ipi;
    return st;
  }

  /**
   * EVTCHNOP_unmask: clear the mask bit and, if the port is pending, raise the upcall it missed.
   * pvkit re-raises even when the guest had already cleared the mask itself (Xen only does when the
   * bit was still set), so guests that clear-then-call and guests that only call both work.
   */
  unmask(caller: number, port: number): number {
    const t = this.table(caller);
    if (t === undefined) return -ESRCH;
    if (!t.valid(port)) return -EINVAL;
    const bits = this.bits(caller);
    bits.testAndClearMask(port);
    if (bits.isPending(port)) {
      const vcpu = t.get(port)?.vcpu ?? 0;
      if (bits.raise(port, vcpu)) this.host.kick(caller, vcpu);
    }
    return 0;
  }

  // ---- the hypervisor's own API ----

  /**
   * Raises `virq` for `domid` (send_guest_vcpu_virq / send_guest_global_virq): a per-vCPU VIRQ on
   * `vcpu`, a global one wherever vCPU 0 bound it. Returns whether a bound port was signalled.
   */
  sendVirq(domid: number, virq: number, vcpu = 0): boolean {
    const t = this.tables.get(domid);
    if (t === undefined || !Number.isInteger(virq) || virq < 0 || virq >= NR_VIRQS) return false;
    const port = t.virq(virq, virqIsPerVcpu(virq) ? vcpu : 0);
    if (port === 0) return false;
    this.setPending(domid, port, t.get(port)!.vcpu);
    return true;
  }

  /** Closes every port of a dying domain (interdomain peers go unbound) and forgets it. */
  closeAll(domid: number): void {
    const t = this.tables.get(domid);
    if (t !== undefined) for (const port of [...t.inUse()]) this.close(domid, port);
    this.tables.delete(domid);
    this.pages.delete(domid);
  }

  /** Ports `domid` has in use (0 for an unknown domain). */
  portCount(domid: number): number {
    return this.tables.get(domid)?.count ?? 0;
  }

  /**
   * SCHEDOP_poll's test: 1 if any of `ports` of `domid` is pending, 0 if none, -EINVAL if one is
   * not a valid port number (Xen checks all before sleeping).
   */
  anyPending(domid: number, ports: readonly number[]): number {
    const t = this.table(domid);
    if (t === undefined) return -ESRCH;
    for (const p of ports) if (!Number.isInteger(p) || p < 0 || p >= t.limit) return -EINVAL;
    const bits = this.bits(domid);
    return ports.some((p) => bits.isPending(p)) ? 1 : 0;
  }

  /** Whether `vcpu` of `domid` has evtchn_upcall_pending set (SCHEDOP_block must not sleep then). */
  upcallPending(domid: number, vcpu: number): boolean {
    return this.table(domid) !== undefined && this.bits(domid).upcallPending(vcpu);
  }
}
