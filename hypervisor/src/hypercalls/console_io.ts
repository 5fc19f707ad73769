/**
 * HYPERVISOR_console_io: the early console. A domain's writes go to its log (read by the toolstack
 * with PVKIT_OP_console_read, and `pvkit dmesg <dom>`), bounded so a chatty guest cannot grow it
 * without limit. Reading the hypervisor's serial input is dom0's, and pvkit has none to give.
 */
import { EPERM } from "@pvkit/abi/layout";
import type { HypercallHandlers } from "../generated/handlers.ts";
import type { DomainContext } from "./context.ts";

const decoder = new TextDecoder();

export const consoleIo: HypercallHandlers<DomainContext>["consoleIo"] = {
  write(ctx, bytes) {
    const text = decoder.decode(bytes);
    ctx.domain.console.append(text);
    ctx.hv.options.consoleSink?.(ctx.domid, text);
    return bytes.length;
  },
  read(ctx) {
    return ctx.privileged ? new Uint8Array(0) : -EPERM;
  },
};
