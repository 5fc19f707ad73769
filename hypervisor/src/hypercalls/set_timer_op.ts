/**
 * HYPERVISOR_set_timer_op: a one-shot timer per vCPU. `timeout` is an absolute system time in ns
 * (0 cancels); when it passes, VIRQ_TIMER is raised on the vCPU. A deadline already past fires at once,
 * as in Xen. vcpu_op's singleshot timer is the same timer.
 */
import { VIRQ_TIMER } from "@pvkit/abi/layout";
import { armAt } from "../time/host-timer.ts";
import type { DomainContext } from "./context.ts";

export function setSingleshot(ctx: DomainContext, deadlineNs: bigint): number {
  const v = ctx.vcpu;
  v.singleshot?.cancel();
  v.singleshot = undefined;
  if (deadlineNs === 0n) return 0;
  // armAt never fires early (the guest would find its sleep not yet due and block again) and takes
  // any deadline, however far: the host's own timers cannot.
  v.singleshot = armAt(ctx.hv.clock, deadlineNs, () => {
    v.singleshot = undefined;
    ctx.evtchn.sendVirq(ctx.domid, VIRQ_TIMER, v.id);
  });
  return 0;
}

export const setTimerOp = (ctx: DomainContext, timeout: bigint): number => setSingleshot(ctx, timeout);
