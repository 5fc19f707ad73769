/**
 * The hypercall trap register block (pvkit's own): one per vCPU, in a SharedArrayBuffer shared by
 * the vCPU's worker and the hypervisor. It plays the part of x86 registers across a `syscall` into
 * Xen. The guest writes op and args, stores PVKIT_TRAP_TRAPPED into `state` and notifies
 * `doorbell`; the hypervisor handles the call, writes `result`, stores PVKIT_TRAP_DONE and notifies
 * `state`; the guest reads the result and stores PVKIT_TRAP_IDLE. 32-bit words are 4-aligned and
 * 64-bit words 8-aligned so that Int32Array/BigInt64Array views and Atomics work on them.
 */
import { constants, struct } from "../schema.ts";

export const pvkitVcpuRegs = struct({
  name: "pvkit_vcpu_regs",
  origin: "pvkit",
  doc: "Per-vCPU trap registers: the hypercall number, five argument registers and the result.",
  size: 64,
  fields: [
    { name: "state", type: "i32", doc: "PVKIT_TRAP_*; the guest waits on this word for DONE." },
    { name: "op", type: "u32", doc: "Hypercall number (__HYPERVISOR_*)." },
    { name: "args", type: { array: "u64", length: 5 }, doc: "Argument registers (rdi, rsi, rdx, r10, r8)." },
    { name: "result", type: "i64", dir: "out", doc: "Xen's `long` return: >= 0 success, < 0 -errno." },
    {
      name: "doorbell",
      type: "i32",
      doc: "Wake requests: the guest bumps it to end its own pending SCHEDOP_block/poll early (it has work to do), like a self-IPI that needs no second trap. The machine-wide doorbell the hypervisor sleeps on is separate.",
    },
    {
      name: "mail",
      type: "u32",
      doc: "Bumped by the hypervisor when it handed frames over (populate, grant map) through the mail ring that follows the register block in the vCPU's page: the guest's supervisor reads the ring when this changed.",
    },
  ],
});

export const pvkitTrap = constants({
  name: "PVKIT_TRAP",
  origin: "pvkit",
  doc: "pvkit_vcpu_regs.state values and the block's word indices for Atomics.",
  values: [
    { name: "PVKIT_TRAP_IDLE", value: 0, doc: "No call in progress: the guest may fill the registers." },
    { name: "PVKIT_TRAP_TRAPPED", value: 1, doc: "The guest trapped: the hypervisor owns the block." },
    { name: "PVKIT_TRAP_DONE", value: 2, doc: "The hypervisor posted `result`: the guest owns the block." },
    { name: "PVKIT_TRAP_STATE_WORD", value: 0, doc: "Int32Array index of `state`." },
    { name: "PVKIT_TRAP_DOORBELL_WORD", value: 14, doc: "Int32Array index of `doorbell` (byte 56)." },
    { name: "PVKIT_TRAP_MAIL_WORD", value: 15, doc: "Int32Array index of `mail` (byte 60)." },
  ],
});
