/**
 * set_timer_op (xen/xen.h): arm the calling vCPU's single-shot timer.
 */
import { hypercall } from "../schema.ts";

export const setTimerOp = hypercall({
  name: "set_timer_op",
  number: 15,
  origin: "xen",
  header: "xen/xen.h",
  doc: "Fire VIRQ_TIMER on this vCPU when system time reaches `timeout` (ns); 0 cancels the timer.",
  args: [{ name: "timeout", kind: "value", type: "u64", doc: "Absolute system time in ns, or 0." }],
  result: "status",
  errors: [],
  example: [
    "// The kernel's timers run on this one-shot timer. A deadline already past fires VIRQ_TIMER at",
    "// once, and the kernel re-arms its own next deadline then; 0n would cancel it.",
    "k.hc.setTimerOp(1n);",
  ],
});
