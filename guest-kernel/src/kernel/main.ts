/**
 * Boot: the kernel's entry from the arch layer. It builds the Kernel from the decoded start_info,
 * brings the subsystems up, starts init -- the guest program named in the boot info, or the shell
 * -- and runs the scheduler until the domain shuts down. When the program returns, the domain
 * powers off; if it throws, the domain crashes (SHUTDOWN_crash) after logging why.
 */
import { runShell } from "../shell/shell.ts";
import { builtinCommands } from "../shell/commands.ts";
import { type BootInfo, Kernel, errText } from "./kernel.ts";
import { loadProgram, type ProgramModule } from "./program.ts";
import { GuestTools } from "./tools.ts";
import { type ArchBootLike, bootInfoFromArch } from "./archboot.ts";

/** Boot info plus what to run as init. */
export interface KernelBoot extends BootInfo {
  /** The program's main(k), already loaded (a domU's program is linked into its image). */
  program?: ProgramModule["default"];
  /** URL of a module whose default export is `main(k)` (dom0); absent with `program`: the shell. */
  programUrl?: string;
}

/**
 * Boots a kernel and returns it with a promise of its end. The scheduler loop starts first:
 * bringing up xenstore needs replies, and replies arrive as events that only the loop dispatches.
 * So the rest of boot runs as the first task, "init", which then becomes the program or shell.
 */
export function bootKernel(boot: KernelBoot): { kernel: Kernel; done: Promise<void> } {
  const kernel = new Kernel(boot);
  const done = kernel.sched.run();
  const commands = builtinCommands();
  kernel.sched.spawn("init", async (task) => {
    await task.wait("boot", kernel.start());
    const tools = new GuestTools(kernel);
    await task.wait("xenstore", tools.start()).catch((e) => kernel.printk(`tools: ${errText(e)}`));
    kernel.onShutdown("tools", () => tools.stop());
    const k = kernel.handle();
    if (!boot.program && !boot.programUrl) {
      await runShell(k, commands, () => kernel.shuttingDown !== null);
      return;
    }
    let main;
    try {
      main = boot.program ?? (await task.wait("load", loadProgram(boot.programUrl!)));
    } catch (e) {
      kernel.printk(errText(e));
      await kernel.shutdown("crash");
      return;
    }
    try {
      await main(k);
    } catch (e) {
      kernel.printk(`init: program failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      await kernel.shutdown("crash");
      return;
    }
    kernel.printk("init: program exited");
    await kernel.shutdown("poweroff");
  });
  return { kernel, done };
}

/**
 * The entry the arch layer calls (guest-kernel/src/arch/entry.ts) with the domain's boot
 * handoff. Resolves when the domain has shut down.
 */
export async function kernelMain(arch: ArchBootLike): Promise<void> {
  await bootKernel(bootInfoFromArch(arch)).done;
}
