/**
 * HYPERVISOR_sched_op: yielding, blocking until an event, polling ports, shutting down. A blocked
 * vCPU stays trapped: the handler returns a Promise that settles when an upcall is raised for it
 * (EventChannels calls the host's kick) or, for poll, when a polled port goes pending or time runs out.
 */
import { EINVAL, ENOSPC, SHUTDOWN_watchdog, type SchedShutdown } from "@pvkit/abi/layout";
import type { HypercallHandlers } from "../generated/handlers.ts";
import type { DomainContext } from "./context.ts";
import { armAfter, armAt, type HostTimer } from "../time/host-timer.ts";

const MAX_POLL_PORTS = 128;
const SHUTDOWN_MAX = 5;
/** Watchdogs one domain may have (Xen's NR_DOMAIN_WATCHDOG_TIMERS). */
const WATCHDOG_SLOTS = 2;

/** Waits until `ready()` or `wake` is called; `deadlineNs` (system time) bounds it. */
function blockUntil(ctx: DomainContext, ready: () => boolean, deadlineNs?: bigint): number | Promise<number> {
  if (ready()) return 0;
  const v = ctx.vcpu;
  return new Promise<number>((resolve) => {
    const done = () => {
      v.forgetBlock();
      resolve(0);
    };
    v.wake = done;
    if (deadlineNs === undefined || deadlineNs <= 0n) return;
    // On the vCPU, so that a domain destroyed while it waits takes its timeout with it (a deadline
    // already past fires at once, and there is nothing left to keep).
    const timer = armAt(ctx.hv.clock, deadlineNs, done);
    if (v.wake === done) v.blockTimer = timer;
  });
}

function shutdown(ctx: DomainContext, arg: SchedShutdown): number {
  if (arg.reason > SHUTDOWN_MAX) return -EINVAL;
  // The domain's worker is ended by shutdownDomain; its trap is never answered, like a real CPU
  // that stopped executing.
  return ctx.hv.shutdownDomain(ctx.domid, arg.reason);
}

export const schedOp: HypercallHandlers<DomainContext>["schedOp"] = {
  yield: () => 0,
  block: (ctx) => blockUntil(ctx, () => ctx.evtchn.upcallPending(ctx.domid, ctx.vcpu.id)),
  shutdown,
  shutdownCode(ctx, arg) {
    if (arg.reason > SHUTDOWN_MAX) return -EINVAL;
    ctx.domain.shutdownCode = arg.reason;
    return 0;
  },
  poll(ctx, arg) {
    if (arg.nr_ports > MAX_POLL_PORTS) return -EINVAL;
    const v = ctx.copyFromGuest(arg.ports, arg.nr_ports * 4);
    const ports = Array.from({ length: arg.nr_ports }, (_, i) => v.getUint32(i * 4, true));
    const first = ctx.evtchn.anyPending(ctx.domid, ports);
    if (first < 0) return first;
    if (first === 1) return 0; // already pending: no block, and no poll ports left behind
    const pending = () => ctx.evtchn.anyPending(ctx.domid, ports) === 1;
    ctx.vcpu.pollPorts = ports;
    return blockUntil(ctx, pending, arg.timeout === 0n ? undefined : arg.timeout);
  },
  remoteShutdown(ctx, arg) {
    if (arg.reason > SHUTDOWN_MAX) return -EINVAL;
    return ctx.hv.shutdownDomain(arg.domain_id, arg.reason);
  },
  watchdog(ctx, arg) {
    // Xen's SCHEDOP_watchdog: id 0 with a timeout arms a new watchdog (returns its id); a known id
    // re-arms it (timeout > 0) or removes it (timeout 0). A watchdog that runs out shuts the domain
    // down with SHUTDOWN_watchdog. Errors as Xen's domain_watchdog: an id that is not in use (or past
    // the two slots) is -EINVAL, no free slot -ENOSPC. Unlike Xen, id 0 with no timeout is refused
    // (-EINVAL) rather than armed to fire at once.
    const dogs = ctx.vcpu.watchdogs;
    const arm = (id: number) => {
      dogs.get(id)?.cancel();
      // timeout is in seconds, up to 2^32-1 of them: far beyond what one host timer can wait.
      const t = armAfter(ctx.hv.clock, BigInt(arg.timeout) * 1000n, () =>
        ctx.hv.shutdownDomain(ctx.domid, SHUTDOWN_watchdog, `watchdog ${id} expired`),
      );
      dogs.set(id, t);
    };
    if (arg.id === 0) {
      if (arg.timeout === 0) return -EINVAL;
      let id = 1;
      while (dogs.has(id)) id++;
      if (id > WATCHDOG_SLOTS) return -ENOSPC;
      arm(id);
      return id;
    }
    if (!dogs.has(arg.id)) return -EINVAL;
    if (arg.timeout === 0) {
      dogs.get(arg.id)?.cancel();
      dogs.delete(arg.id);
    } else arm(arg.id);
    return 0;
  },
};
