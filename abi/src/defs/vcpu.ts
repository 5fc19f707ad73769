/**
 * vCPU operations (xen/vcpu.h): bring vCPUs up and down, read their runstate, and drive the
 * per-vCPU periodic and single-shot timers (which raise VIRQ_TIMER).
 */
import { constants, hypercall, struct } from "../schema.ts";

const header = "xen/vcpu.h";

export const vcpuRunstateInfo = struct({
  name: "vcpu_runstate_info",
  origin: "xen",
  header,
  doc: "How long a vCPU has spent in each RUNSTATE_*.",
  size: 48,
  fields: [
    { name: "state", type: "i32", dir: "out", doc: "Current RUNSTATE_*." },
    { name: "state_entry_time", type: "u64", dir: "out", doc: "System time (ns) it entered that state." },
    { name: "time", type: { array: "u64", length: 4 }, dir: "out", doc: "ns spent in each RUNSTATE_*." },
  ],
});

export const runstate = constants({
  name: "RUNSTATE",
  origin: "xen",
  header,
  doc: "vcpu_runstate_info.state values.",
  values: [
    { name: "RUNSTATE_running", value: 0, doc: "Running on a physical CPU." },
    { name: "RUNSTATE_runnable", value: 1, doc: "Ready but waiting for a CPU." },
    { name: "RUNSTATE_blocked", value: 2, doc: "Blocked (SCHEDOP_block/poll) waiting for an event." },
    { name: "RUNSTATE_offline", value: 3, doc: "Down or paused." },
  ],
});

export const vcpuSetPeriodicTimer = struct({
  name: "vcpu_set_periodic_timer",
  origin: "xen",
  header,
  doc: "VCPUOP_set_periodic_timer argument.",
  size: 8,
  fields: [{ name: "period_ns", type: "u64", doc: "Period in ns (at least 1 ms in Xen)." }],
});

export const vcpuSetSingleshotTimer = struct({
  name: "vcpu_set_singleshot_timer",
  origin: "xen",
  header,
  doc: "VCPUOP_set_singleshot_timer argument.",
  size: 16,
  fields: [
    { name: "timeout_abs_ns", type: "u64", doc: "Absolute system time (ns) to fire at." },
    { name: "flags", type: "u32", doc: "VCPU_SSHOTTMR_* flags." },
  ],
});

export const vcpuSshottmr = constants({
  name: "VCPU_SSHOTTMR",
  origin: "xen",
  header,
  doc: "vcpu_set_singleshot_timer.flags.",
  values: [
    { name: "VCPU_SSHOTTMR_future", value: 1, doc: "Fail with -ETIME if the timeout is in the past." },
  ],
});

export const vcpuOp = hypercall({
  name: "vcpu_op",
  number: 24,
  origin: "xen",
  header,
  doc: "Operations on one vCPU of the calling domain.",
  subopPrefix: "VCPUOP_",
  args: [
    { name: "cmd", kind: "subop", doc: "VCPUOP_*" },
    { name: "vcpuid", kind: "value", type: "u32", doc: "Target vCPU." },
    { name: "arg", kind: "struct", doc: "Pointer to the sub-op's struct." },
  ],
  subops: [
    {
      name: "up",
      number: 1,
      doc: "Start a vCPU that is down.",
      errors: [
        { errno: "ENOENT", when: "`vcpuid` is not a vCPU of the caller (pvkit domains have vCPU 0 only)" },
      ],
      example: ["k.hc.vcpuOp.up(0); // vCPU 0 is always up: nothing to do"],
    },
    {
      name: "down",
      number: 2,
      doc: "Stop a vCPU.",
      errors: [
        { errno: "ENOENT", when: "`vcpuid` is not a vCPU of the caller (pvkit domains have vCPU 0 only)" },
        { errno: "EINVAL", when: "`vcpuid` is 0: the boot vCPU cannot go down" },
      ],
      example: [
        "try {",
        "  k.hc.vcpuOp.down(0);",
        "} catch (e) {",
        "  if (e instanceof XenError) k.print(e.message); // vcpu_op.down: -EINVAL (-22)",
        "}",
      ],
    },
    {
      name: "is_up",
      number: 3,
      result: "value",
      doc: "Returns 1 if the vCPU is up, else 0.",
      errors: [
        { errno: "ENOENT", when: "`vcpuid` is not a vCPU of the caller (pvkit domains have vCPU 0 only)" },
      ],
      example: ['if (k.hc.vcpuOp.isUp(0) === 1) k.print("vCPU 0 is up");'],
    },
    {
      name: "get_runstate_info",
      number: 4,
      arg: "vcpu_runstate_info",
      doc: "Read the vCPU's runstate accounting.",
      errors: [
        { errno: "ENOENT", when: "`vcpuid` is not a vCPU of the caller (pvkit domains have vCPU 0 only)" },
      ],
      example: [
        "const rs = k.hc.vcpuOp.getRunstateInfo(0, {});",
        "k.print(`running for ${rs.time[0]} ns, state ${rs.state}`);",
      ],
    },
    {
      name: "set_periodic_timer",
      number: 6,
      arg: "vcpu_set_periodic_timer",
      doc: "Raise VIRQ_TIMER every period.",
      errors: [
        { errno: "ENOENT", when: "`vcpuid` is not a vCPU of the caller (pvkit domains have vCPU 0 only)" },
        { errno: "EINVAL", when: "`period_ns` is below 1 ms (1000000)" },
      ],
      example: ["k.hc.vcpuOp.setPeriodicTimer(0, { period_ns: 10_000_000n }); // VIRQ_TIMER every 10 ms"],
    },
    {
      name: "stop_periodic_timer",
      number: 7,
      doc: "Stop the periodic timer.",
      errors: [
        { errno: "ENOENT", when: "`vcpuid` is not a vCPU of the caller (pvkit domains have vCPU 0 only)" },
      ],
      example: ["k.hc.vcpuOp.stopPeriodicTimer(0);"],
    },
    {
      name: "set_singleshot_timer",
      number: 8,
      arg: "vcpu_set_singleshot_timer",
      doc: "Raise VIRQ_TIMER once at an absolute time.",
      errors: [
        { errno: "ENOENT", when: "`vcpuid` is not a vCPU of the caller (pvkit domains have vCPU 0 only)" },
      ],
      example: [
        "// The same timer as set_timer_op (the kernel's): a past deadline fires at once.",
        "k.hc.vcpuOp.setSingleshotTimer(0, { timeout_abs_ns: 1n });",
      ],
    },
    {
      name: "stop_singleshot_timer",
      number: 9,
      doc: "Cancel the single-shot timer.",
      errors: [
        { errno: "ENOENT", when: "`vcpuid` is not a vCPU of the caller (pvkit domains have vCPU 0 only)" },
      ],
      example: [
        "// The kernel's sleeps use this timer: stopping it delays k.sleep() until the next other event.",
        "k.hc.vcpuOp.stopSingleshotTimer(0);",
      ],
    },
  ],
});
