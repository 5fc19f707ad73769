/**
 * HYPERVISOR_set_timer_op: a one-shot timer per vCPU. `timeout` is an absolute system time in ns
 * (0 cancels); when it passes, VIRQ_TIMER is raised on the vCPU. A deadline already past fires at once,
 * as in Xen. vcpu_op's singleshot timer is the same timer.
 */
import { VIRQ_TIMER } from "@pvkit/abi/layout";
import type { DomainContext } from "./context.ts";

export function setSingleshot(ctx: DomainContext, deadlineNs: bigint): number {
  const v = ctx.vcpu;
  clearTimeout(v.singleshot);
  v.singleshot = undefined;
  if (deadlineNs === 0n) return 0;
  // Host timers may fire up to a millisecond early; the guest must never see VIRQ_TIMER before its
  // deadline (it would find its sleep not yet due and block again), so check and re-arm if needed.
  const arm = () => {
    const left = Number(deadlineNs - ctx.hv.clock.systemTime()) / 1e6;
    if (left > 0) {
      v.singleshot = setTimeout(arm, Math.ceil(left));
      return;
    }
    v.singleshot = undefined;
    ctx.evtchn.sendVirq(ctx.domid, VIRQ_TIMER, v.id);
  };
  arm();
  return 0;
}

export const setTimerOp = (ctx: DomainContext, timeout: bigint): number => setSingleshot(ctx, timeout);
