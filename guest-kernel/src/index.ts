/**
 * @pvkit/guest-kernel: the PV kernel every domain runs. Boot enters at kernel/main.ts
 * (kernelMain); guest programs import only the KernelHandle type from kernel/program.ts; drivers
 * use the xenbus client and state helpers, events, gnttab and mm through the Kernel object.
 */
export { kernelMain, bootKernel, type KernelBoot } from "./kernel/main.ts";
export { Kernel, PVKIT_VERSION, type BootInfo } from "./kernel/kernel.ts";
export type { KernelHandle, ShutdownKind, DeviceInfo } from "./kernel/program.ts";
export type { XenOps } from "./kernel/hypervisor.ts";
export { Events } from "./kernel/events.ts";
export { Clock, Timers } from "./kernel/time.ts";
export { Scheduler, WaitQueue, type Task } from "./kernel/sched.ts";
export { PageAllocator, OutOfMemory } from "./kernel/mm.ts";
export { GrantTable } from "./kernel/gnttab.ts";
export { XenStoreClient, type XsOps } from "./xenbus/client.ts";
export { XenbusState, switchState, waitForState, readState } from "./xenbus/state.ts";
export { CommandTable, builtinCommands, type Command } from "./shell/commands.ts";
