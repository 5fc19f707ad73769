/**
 * The kernel's entry in the privileged domain (dom0), imported by the worker's supervisor once
 * TypeScript support is loaded: build the arch layer from the machine and boot the kernel. The
 * privileged pieces (full SDK, events, the foreign-mapping window) are lent to dom0's services
 * before init runs. domUs enter through realm-entry.ts instead.
 */
import { bootKernel } from "../kernel/main.ts";
import { bootInfoFromArch } from "../kernel/archboot.ts";
import { lendPrivileged } from "../dom0/privileged.ts";
import { currentArch } from "./handoff.ts";

const arch = currentArch();
const { kernel, done } = bootKernel(bootInfoFromArch(arch));
if (arch.privileged) lendPrivileged({ hc: arch.hc, kernel, memory: arch.memory });
await done;
