/**
 * One traced hypercall: a span on the calling vCPU's thread from trap to result, named from the ABI
 * (`event_channel_op/EVTCHNOP_send`, `domctl/XEN_DOMCTL_createdomain`: abi/src/hypercall-names.ts)
 * with the result in its args, a failure by errno name ("-EINVAL"). Only called while tracing: the
 * untraced path never reaches this file.
 */
import type { GuestCopier, HandlerResult } from "@pvkit/abi";
import { hypercallOpName, hypercallResult, subopSource } from "@pvkit/abi/hypercall-names";
import type { Vcpu } from "../domain/vcpu.ts";
import type { Tracer } from "./tracer.ts";

/** Runs `dispatch` (the hypercall itself) inside a span of `pid`'s vCPU `tid`, which is `vcpu`. */
export function tracedHypercall(
  tr: Tracer,
  guest: GuestCopier,
  pid: number,
  tid: number,
  op: number,
  args: readonly bigint[],
  dispatch: () => HandlerResult,
  vcpu?: Pick<Vcpu, "whenUnblocked">,
): HandlerResult {
  // Named before it runs: a handler may rewrite the struct the sub-op number was read from.
  const name = hypercallOpName(op, subopOf(guest, op, args));
  const t0 = tr.now();
  tr.enterCall(pid, tid);
  let r: HandlerResult;
  let childEnd = 0;
  try {
    r = dispatch();
  } finally {
    childEnd = tr.leaveCall();
  }
  let ended = false;
  const done = (n: number) => {
    if (!ended) tr.span("hypercall", name, pid, tid, t0, { result: hypercallResult(n) }, childEnd);
    ended = true;
    return n;
  };
  if (typeof r === "number") return done(r);
  // A block is answered the moment it ends (trap-service.ts), and the vCPU may trap again before
  // the handler's promise settles: its span ends there too, so that the next one does not overlap.
  vcpu?.whenUnblocked(() => done(0));
  return r.then(done);
}

/** The sub-op number of a trapped call: from its register, or from the envelope in guest memory. */
function subopOf(guest: GuestCopier, op: number, args: readonly bigint[]): number | undefined {
  const src = subopSource(op);
  switch (src.kind) {
    case "none":
      return undefined;
    case "register":
      return Number(args[src.arg] ?? 0n);
    case "envelope":
      try {
        const view = guest.copyFromGuest(args[src.arg] ?? 0n, src.header.size);
        return Number(src.header.decode(view, 0)[src.field]);
      } catch {
        return undefined; // a bad pointer: the call itself will fail with -EFAULT, named by its hypercall
      }
  }
}
