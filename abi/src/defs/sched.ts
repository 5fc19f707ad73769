/**
 * Scheduler operations (xen/sched.h): yield, block until an event, shut down, poll ports, watchdogs.
 */
import { constants, hypercall, struct } from "../schema.ts";

const header = "xen/sched.h";

export const shutdownReason = constants({
  name: "SHUTDOWN",
  origin: "xen",
  header,
  doc: "sched_shutdown.reason: why a domain stops (the toolstack applies on_poweroff/on_reboot/on_crash).",
  values: [
    { name: "SHUTDOWN_poweroff", value: 0, doc: "Exited normally: clean up and destroy." },
    { name: "SHUTDOWN_reboot", value: 1, doc: "Clean up, destroy and start again." },
    { name: "SHUTDOWN_suspend", value: 2, doc: "Clean up, save suspend info, destroy." },
    { name: "SHUTDOWN_crash", value: 3, doc: "The guest crashed." },
    { name: "SHUTDOWN_watchdog", value: 4, doc: "A watchdog expired: restart." },
    { name: "SHUTDOWN_soft_reset", value: 5, doc: "Reset the domain's state but keep its memory." },
    { name: "SHUTDOWN_MAX", value: 5, doc: "Largest valid reason." },
  ],
});

export const schedShutdown = struct({
  name: "sched_shutdown",
  origin: "xen",
  header,
  doc: "SCHEDOP_shutdown / SCHEDOP_shutdown_code argument.",
  size: 4,
  fields: [{ name: "reason", type: "u32", doc: "SHUTDOWN_* code." }],
});

export const schedPoll = struct({
  name: "sched_poll",
  origin: "xen",
  header,
  doc: "SCHEDOP_poll: block until one of `ports` is pending or `timeout` (system time, ns) passes.",
  size: 24,
  fields: [
    { name: "ports", type: "ptr", doc: "Guest address of an array of evtchn_port_t (u32)." },
    { name: "nr_ports", type: "u32", doc: "Entries in `ports`." },
    { name: "timeout", type: "u64", doc: "Absolute system time to give up at; 0 = none." },
  ],
});

export const schedRemoteShutdown = struct({
  name: "sched_remote_shutdown",
  origin: "xen",
  header,
  doc: "SCHEDOP_remote_shutdown: the control domain shuts another domain down.",
  size: 8,
  fields: [
    { name: "domain_id", type: "u16", doc: "Domain to shut down." },
    { name: "reason", type: "u32", doc: "SHUTDOWN_* code." },
  ],
});

export const schedWatchdog = struct({
  name: "sched_watchdog",
  origin: "xen",
  header,
  doc: "SCHEDOP_watchdog: id 0 creates a watchdog (its id is returned); id n with a timeout feeds it, with timeout 0 destroys it.",
  size: 8,
  fields: [
    { name: "id", type: "u32", doc: "Watchdog id, or 0 to create." },
    { name: "timeout", type: "u32", doc: "Seconds; 0 destroys the watchdog." },
  ],
});

export const schedOp = hypercall({
  name: "sched_op",
  number: 29,
  origin: "xen",
  header,
  doc: "Scheduler operations on the calling vCPU or domain.",
  subopPrefix: "SCHEDOP_",
  args: [
    { name: "cmd", kind: "subop", doc: "SCHEDOP_*" },
    { name: "arg", kind: "struct", doc: "Pointer to the sub-op's struct." },
  ],
  subops: [
    {
      name: "yield",
      number: 0,
      doc: "Give up the rest of this time slice.",
      errors: [],
      example: ["k.hc.schedOp.yield();"],
    },
    {
      name: "block",
      number: 1,
      blocking: true,
      doc: "Unmask event delivery and sleep until an event is pending.",
      errors: [],
      example: [
        "// Sleeps the vCPU until an event is pending (the kernel's idle loop does this; k.sleep() is kinder).",
        "await k.hc.schedOp.block();",
      ],
    },
    {
      name: "shutdown",
      number: 2,
      arg: "sched_shutdown",
      doc: "Stop the calling domain with a reason.",
      errors: [{ errno: "EINVAL", when: "`reason` is not a SHUTDOWN_* code (above SHUTDOWN_soft_reset, 5)" }],
      example: [
        "// Stops the domain at once; k.shutdown() closes the drivers first.",
        "k.hc.schedOp.shutdown({ reason: SHUTDOWN_poweroff });",
      ],
    },
    {
      name: "poll",
      number: 3,
      arg: "sched_poll",
      blocking: true,
      doc: "Sleep until one of a set of ports is pending or the timeout passes.",
      errors: [
        {
          errno: "EINVAL",
          when: "`nr_ports` is above 128, or a listed port is not below the port limit (4096)",
        },
      ],
      example: [
        "const { port } = k.hc.eventChannelOp.bindIpi({ vcpu: 0 });",
        "const page = k.grants.share(0); // a page of our own whose address we know (lent to dom0)",
        "page.view.setUint32(0, port, true); // the list of ports to wait for",
        "k.hc.eventChannelOp.send({ port }); // pending already: the poll returns at once",
        "await k.hc.schedOp.poll({ ports: BigInt(page.pfn) * 4096n, nr_ports: 1, timeout: 0n });",
      ],
    },
    {
      name: "remote_shutdown",
      number: 4,
      arg: "sched_remote_shutdown",
      privileged: true,
      doc: "Shut down another domain.",
      errors: [
        { errno: "EINVAL", when: "`reason` is not a SHUTDOWN_* code (above 5)" },
        { errno: "ESRCH", when: "`domain_id` is not a live domain" },
      ],
      example: [
        "// dom0 only: stop domain 3 as if it had crashed.",
        "if (k.privileged) k.hc.schedOp.remoteShutdown({ domain_id: 3, reason: SHUTDOWN_crash });",
      ],
    },
    {
      name: "shutdown_code",
      number: 5,
      arg: "sched_shutdown",
      doc: "Record the reason for a later shutdown without stopping now.",
      errors: [{ errno: "EINVAL", when: "`reason` is not a SHUTDOWN_* code (above 5)" }],
      example: [
        "// Recorded now, reported if the domain later stops without a reason of its own.",
        "k.hc.schedOp.shutdownCode({ reason: SHUTDOWN_reboot });",
      ],
    },
    {
      name: "watchdog",
      number: 6,
      arg: "sched_watchdog",
      result: "value",
      doc: "Create, feed or destroy a domain watchdog; returns the watchdog id.",
      errors: [
        {
          errno: "EINVAL",
          when: "`id` is 0 and `timeout` is 0 (pvkit arms no watchdog that has already expired), or `id` is not a watchdog in use",
        },
        { errno: "ENOSPC", when: "`id` is 0 and both of the domain's watchdogs are in use" },
      ],
      example: [
        "const id = k.hc.schedOp.watchdog({ id: 0, timeout: 30 }); // shut down if not fed within 30 s",
        "k.hc.schedOp.watchdog({ id, timeout: 30 }); // feed it",
        "k.hc.schedOp.watchdog({ id, timeout: 0 }); // remove it",
      ],
    },
  ],
});
