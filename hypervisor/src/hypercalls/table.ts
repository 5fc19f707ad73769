/**
 * The hypervisor's handler table: one namespace per hypercall, each in its own file here. The
 * generated HypercallHandlers type makes the compiler name any hypercall or sub-op of the ABI that
 * has no handler (docs/adding-a-hypercall.md).
 */
import type { HypercallHandlers } from "../generated/handlers.ts";
import type { DomainContext } from "./context.ts";
import { consoleIo } from "./console_io.ts";
import { domctl } from "./domctl.ts";
import { eventChannelOp } from "./event_channel_op.ts";
import { grantTableOp } from "./grant_table_op.ts";
import { memoryOp } from "./memory_op.ts";
import { pvkitOp } from "./pvkit_op.ts";
import { schedOp } from "./sched_op.ts";
import { setTimerOp } from "./set_timer_op.ts";
import { sysctl } from "./sysctl.ts";
import { vcpuOp } from "./vcpu_op.ts";
import { xenVersion } from "./xen_version.ts";

export const handlers: HypercallHandlers<DomainContext> = {
  eventChannelOp,
  grantTableOp,
  memoryOp,
  schedOp,
  setTimerOp,
  vcpuOp,
  consoleIo,
  xenVersion,
  domctl,
  sysctl,
  pvkitOp,
};
