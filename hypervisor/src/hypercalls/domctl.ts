/**
 * HYPERVISOR_domctl: the toolstack's control of other domains (all sub-ops are dom0's; the generated
 * dispatcher already refused everyone else with -EPERM and checked the interface version). A new
 * domain is created paused and empty; pvkit_op builds it; unpause starts its vCPU.
 */
import {
  EINVAL,
  ESRCH,
  XEN_DOMINF_blocked,
  XEN_DOMINF_dying,
  XEN_DOMINF_paused,
  XEN_DOMINF_running,
  XEN_DOMINF_shutdown,
  XEN_DOMINF_shutdownshift,
  type XenDomctlGetdomaininfo,
} from "@pvkit/abi/layout";
import type { Domain } from "../domain/domain.ts";
import type { HypercallHandlers } from "../generated/handlers.ts";
import type { Hypervisor } from "../hypervisor.ts";
import type { DomainContext } from "./context.ts";

/** Fills Xen's getdomaininfo record for `d`. */
export function domainInfo(hv: Hypervisor, d: Domain, out: XenDomctlGetdomaininfo): void {
  let flags = 0;
  if (d.state === "dying" || d.state === "dead") flags |= XEN_DOMINF_dying;
  if (d.state === "shutdown")
    flags |= XEN_DOMINF_shutdown | ((d.shutdownReason ?? 0) << XEN_DOMINF_shutdownshift);
  if (d.paused && d.alive) flags |= XEN_DOMINF_paused;
  // Blocked means blocked in fact: a vCPU in SCHEDOP_block whose worker is busy is running.
  if (d.state === "running" && !d.paused)
    flags |= d.vcpu.wake && d.cpu.recent < 0.5 ? XEN_DOMINF_blocked : XEN_DOMINF_running;
  out.domain = d.domid;
  out.flags = flags;
  out.tot_pages = BigInt(d.pages);
  out.max_pages = BigInt(d.maxPages);
  out.shared_info_frame = BigInt(d.sharedInfo?.mfn ?? 0);
  out.cpu_time = d.vcpu.cpuTime();
  out.nr_online_vcpus = 1;
  out.max_vcpu_id = 0;
}

const domain = (ctx: DomainContext, domid: number) => ctx.hv.domains.get(domid);

export const domctl: HypercallHandlers<DomainContext>["domctl"] = {
  createdomain(ctx, domid, arg) {
    // Xen accepts a requested domid; 0 asks the hypervisor to pick. The new id is the result (see docs/abi.md).
    const id = domid === 0 ? ctx.hv.freeDomid() : domid;
    if (id < 0) return -28; // ENOSPC
    if (arg.max_vcpus > 1) return -EINVAL; // pvkit runs one vCPU per domain for now
    const d = ctx.hv.newDomain(id, `domain-${id}`, 0);
    return typeof d === "number" ? d : id;
  },
  destroydomain(ctx, domid) {
    if (domid === 0) return -EINVAL;
    return ctx.hv.destroyDomain(domid);
  },
  pausedomain: (ctx, domid) => (domid === ctx.domid ? -EINVAL : ctx.hv.pauseDomain(domid)),
  unpausedomain: (ctx, domid) => ctx.hv.unpauseDomain(domid),
  getdomaininfo(ctx, domid, arg) {
    const d = domain(ctx, domid);
    if (!d) return -ESRCH;
    domainInfo(ctx.hv, d, arg);
    return 0;
  },
  maxMem(ctx, domid, arg) {
    const d = domain(ctx, domid);
    if (!d) return -ESRCH;
    if (arg.max_memkb > BigInt(Number.MAX_SAFE_INTEGER)) return -EINVAL;
    const pages = Number(arg.max_memkb / 4n);
    if (pages < d.pages && d.built) return -EINVAL;
    // Admission: the domain exists only while its memory fits in what the machine has not promised.
    const r = ctx.hv.memory.reserve(d.uid, pages);
    if (r < 0) return r;
    d.maxPages = pages;
    return 0;
  },
  maxVcpus(ctx, domid, arg) {
    const d = domain(ctx, domid);
    if (!d) return -ESRCH;
    if (arg.max !== 1) return -EINVAL;
    d.maxVcpus = 1;
    return 0;
  },
};
