/**
 * HYPERVISOR_vcpu_op: per-vCPU control. pvkit domains have one vCPU (id 0), always up; a missing vCPU
 * is -ENOENT as in Xen. Timers: the singleshot timer is set_timer_op's; the periodic timer raises
 * VIRQ_TIMER every period (at least 1 ms).
 */
import { EINVAL, ENOENT, VIRQ_TIMER } from "@pvkit/abi/layout";
import type { HypercallHandlers } from "../generated/handlers.ts";
import type { DomainContext } from "./context.ts";
import { setSingleshot } from "./set_timer_op.ts";
import { armPeriodic } from "../time/host-timer.ts";

const RUNSTATE_running = 0;
const RUNSTATE_blocked = 2;

const exists = (ctx: DomainContext, vcpuid: number) => vcpuid < ctx.domain.maxVcpus && vcpuid === 0;

export const vcpuOp: HypercallHandlers<DomainContext>["vcpuOp"] = {
  up: (ctx, vcpuid) => (exists(ctx, vcpuid) ? 0 : -ENOENT),
  down: (ctx, vcpuid) => (exists(ctx, vcpuid) ? -EINVAL : -ENOENT), // the boot vCPU cannot go down
  isUp: (ctx, vcpuid) => (exists(ctx, vcpuid) ? 1 : -ENOENT),
  getRunstateInfo(ctx, vcpuid, arg) {
    if (!exists(ctx, vcpuid)) return -ENOENT;
    const now = ctx.hv.clock.systemTime();
    const running = ctx.vcpu.cpuTime();
    arg.state = ctx.vcpu.wake ? RUNSTATE_blocked : RUNSTATE_running;
    arg.state_entry_time = now;
    arg.time = [running, 0n, now - running, 0n];
    return 0;
  },
  setPeriodicTimer(ctx, vcpuid, arg) {
    if (!exists(ctx, vcpuid)) return -ENOENT;
    if (arg.period_ns < 1_000_000n) return -EINVAL;
    ctx.vcpu.periodic?.cancel();
    ctx.vcpu.periodic = armPeriodic(ctx.hv.clock, arg.period_ns, () =>
      ctx.evtchn.sendVirq(ctx.domid, VIRQ_TIMER, 0),
    );
    return 0;
  },
  stopPeriodicTimer(ctx, vcpuid) {
    if (!exists(ctx, vcpuid)) return -ENOENT;
    ctx.vcpu.periodic?.cancel();
    ctx.vcpu.periodic = undefined;
    return 0;
  },
  setSingleshotTimer: (ctx, vcpuid, arg) =>
    exists(ctx, vcpuid) ? setSingleshot(ctx, arg.timeout_abs_ns) : -ENOENT,
  stopSingleshotTimer: (ctx, vcpuid) => (exists(ctx, vcpuid) ? setSingleshot(ctx, 0n) : -ENOENT),
};
