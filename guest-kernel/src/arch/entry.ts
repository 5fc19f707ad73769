/**
 * The kernel's entry in every domain's worker: build the arch layer from the hypervisor's handoff and
 * boot the kernel. In dom0 the privileged pieces (full SDK, events, the foreign-mapping window) are
 * lent to dom0's services before init runs.
 */
import { bootKernel } from "../kernel/main.ts";
import { bootInfoFromArch } from "../kernel/archboot.ts";
import { lendPrivileged } from "../dom0/privileged.ts";
import { currentArch } from "./handoff.ts";
import type { PhysMemory } from "./memory.ts";

const arch = currentArch();
const { kernel, done } = bootKernel(bootInfoFromArch(arch));
if (arch.privileged) lendPrivileged({ hc: arch.hc, kernel, memory: arch.memory as PhysMemory });
await done;
