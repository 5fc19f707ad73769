/**
 * HYPERVISOR_pvkit_op: pvkit's own toolstack operations (private range). dom0 names a new domain's
 * guest program and command line, has the hypervisor build it (memory, start_info, rings, ports,
 * reserved grants), starts it, and reads console_io logs. Strings are copied from dom0's memory once
 * and checked (lengths, URL scheme) before use.
 */
import {
  DOMID_XEN,
  EINVAL,
  ESRCH,
  PVKIT_SET_KERNEL_INSPECT,
  PVKIT_SET_KERNEL_INSPECT_BRK,
} from "@pvkit/abi/layout";
import type { HypercallHandlers } from "../generated/handlers.ts";
import type { DomainContext } from "./context.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });
const MAX_URL = 4096;
/** The first port handed to `--inspect` guests; domain N listens on base + N. */
export const INSPECTOR_BASE_PORT = 9230;

function readString(ctx: DomainContext, addr: bigint, len: number): string | undefined {
  try {
    const v = ctx.copyFromGuest(addr, len);
    return decoder.decode(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  } catch (e) {
    if (e instanceof TypeError) return undefined; // not UTF-8
    throw e;
  }
}

export const pvkitOp: HypercallHandlers<DomainContext>["pvkitOp"] = {
  setKernel(ctx, arg) {
    const d = ctx.hv.domains.get(arg.domid);
    if (!d) return -ESRCH;
    if (d.built) return -EINVAL;
    if (arg.kernel_len === 0 || arg.kernel_len > MAX_URL || arg.cmdline_len > 1023) return -EINVAL;
    const url = readString(ctx, arg.kernel, arg.kernel_len);
    const cmdline = arg.cmdline_len ? readString(ctx, arg.cmdline, arg.cmdline_len) : "";
    if (url === undefined || cmdline === undefined) return -EINVAL;
    if (!url.startsWith("file:")) return -EINVAL; // a domU's program is a file the image is built from
    d.programUrl = url;
    d.cmdline = cmdline;
    d.inspect = (arg.flags & PVKIT_SET_KERNEL_INSPECT) !== 0;
    d.inspectBrk = d.inspect && (arg.flags & PVKIT_SET_KERNEL_INSPECT_BRK) !== 0;
    if (d.inspect) d.inspectorPort = INSPECTOR_BASE_PORT + d.domid;
    arg.inspector_port = d.inspectorPort ?? 0;
    return 0;
  },
  build(ctx, arg) {
    const d = ctx.hv.domains.get(arg.domid);
    if (!d) return -ESRCH;
    if (arg.nr_pages > BigInt(d.maxPages)) return -12;
    if (!ctx.hv.domains.has(arg.store_domid) || arg.store_domid !== arg.console_domid) return -EINVAL;
    const r = ctx.hv.build(d, { nrPages: Number(arg.nr_pages), rings: true, backend: arg.store_domid });
    if (typeof r === "number") return r;
    arg.start_info_gfn = BigInt(r.startInfoPfn);
    arg.store_gfn = BigInt(r.storePfn);
    arg.console_gfn = BigInt(r.consolePfn);
    arg.store_port = r.storePort;
    arg.console_port = r.consolePort;
    return 0;
  },
  start: (ctx, arg) => ctx.hv.unpauseDomain(arg.domid),
  domainStats(ctx, arg) {
    const d = ctx.hv.domains.get(arg.domid);
    if (!d) return -ESRCH;
    arg.hypercalls = BigInt(d.hypercalls);
    arg.events_sent = BigInt(d.eventsSent);
    return 0;
  },
  poolInfo(ctx, arg) {
    const p = ctx.hv.pool?.stats();
    arg.size = p?.size ?? 0;
    arg.ready = p?.ready ?? 0;
    arg.served = BigInt(p?.served ?? 0);
    arg.cold = BigInt(p?.cold ?? 0);
    return 0;
  },
  consoleRead(ctx, arg) {
    let text: string;
    let written: number;
    if (arg.domid === DOMID_XEN) {
      text = ctx.hv.log.join("\n") + "\n";
      written = text.length;
    } else {
      const d = ctx.hv.domains.get(arg.domid);
      if (!d) return -ESRCH;
      text = d.console.text();
      written = d.console.written;
    }
    const start = written - text.length;
    const from = Math.max(Number(arg.cons), start) - start;
    const bytes = new TextEncoder().encode(text.slice(from)).subarray(0, arg.len);
    ctx.copyToGuest(arg.buffer, bytes);
    arg.count = bytes.length;
    arg.cons = BigInt(start + from + bytes.length);
    return 0;
  },
};
