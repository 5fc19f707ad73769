/**
 * HYPERVISOR_xen_version: who is answering. pvkit reports Xen 4.17's interface (the ABI it follows)
 * with "-pvkit" as its extra version, so a guest can tell it is on pvkit without losing compatibility.
 */
import { EINVAL, XENFEAT_auto_translated_physmap, XENFEAT_dom0 } from "@pvkit/abi/layout";
import type { HypercallHandlers } from "../generated/handlers.ts";
import type { DomainContext } from "./context.ts";

export const XEN_MAJOR = 4;
export const XEN_MINOR = 17;

export const xenVersion: HypercallHandlers<DomainContext>["xenVersion"] = {
  version: () => (XEN_MAJOR << 16) | XEN_MINOR,
  extraversion(_ctx, arg) {
    arg.extraversion = ".0-pvkit";
    return 0;
  },
  compileInfo(_ctx, arg) {
    arg.compiler = `node ${process.version}`;
    arg.compile_by = "pvkit";
    arg.compile_domain = "pvkit.dev";
    arg.compile_date = "2026-11-24";
    return 0;
  },
  capabilities(_ctx, arg) {
    arg.info = "xen-3.0-x86_64";
    return 0;
  },
  changeset(_ctx, arg) {
    arg.info = "pvkit";
    return 0;
  },
  platformParameters(_ctx, arg) {
    arg.virt_start = 0xffff800000000000n;
    return 0;
  },
  getFeatures(ctx, arg) {
    // Xen has one submap (XENFEAT_NR_SUBMAPS = 1): any other index is -EINVAL there too.
    if (arg.submap_idx !== 0) return -EINVAL;
    arg.submap = (1 << XENFEAT_auto_translated_physmap) | (ctx.privileged ? 1 << XENFEAT_dom0 : 0);
    return 0;
  },
  pagesize: () => 4096,
  guestHandle(_ctx, arg) {
    arg.handle = new Uint8Array(16);
    return 0;
  },
  commandline(ctx, arg) {
    arg.cmdline = ctx.privileged ? "pvkit" : "";
    return 0;
  },
};
