/**
 * HYPERVISOR_sysctl: the machine as dom0's toolstack sees it — physical info and the domain list
 * (xl list is built on getdomaininfolist). dom0 only, enforced by the dispatcher.
 */
import { EINVAL, XenDomctlGetdomaininfo } from "@pvkit/abi/layout";
import type { HypercallHandlers } from "../generated/handlers.ts";
import type { DomainContext } from "./context.ts";
import { domainInfo } from "./domctl.ts";
import { availableParallelism } from "node:os";

const MAX_LIST = 1024;

export const sysctl: HypercallHandlers<DomainContext>["sysctl"] = {
  physinfo(ctx, arg) {
    arg.threads_per_core = 1;
    arg.cores_per_socket = availableParallelism();
    arg.nr_cpus = availableParallelism();
    arg.max_cpu_id = availableParallelism() - 1;
    arg.nr_nodes = 1;
    arg.max_node_id = 0;
    arg.cpu_khz = 1_000_000;
    arg.total_pages = BigInt(ctx.hv.memory.totalPages);
    arg.free_pages = BigInt(ctx.hv.memory.freePages);
    return 0;
  },
  getdomaininfolist(ctx, arg) {
    if (arg.max_domains > MAX_LIST) return -EINVAL;
    const ds = [...ctx.hv.domains.values()]
      .filter((d) => d.domid >= arg.first_domain)
      .sort((a, b) => a.domid - b.domid);
    const n = Math.min(ds.length, arg.max_domains);
    const size = XenDomctlGetdomaininfo.size;
    const view = new DataView(new ArrayBuffer(n * size));
    for (let i = 0; i < n; i++) {
      const info = XenDomctlGetdomaininfo.zero();
      domainInfo(ctx.hv, ds[i]!, info);
      XenDomctlGetdomaininfo.encode(view, i * size, info);
    }
    ctx.copyToGuest(arg.buffer, new Uint8Array(view.buffer));
    arg.num_domains = n;
    return 0;
  },
};
