/**
 * A domU's kernel entry inside its realm: the image builder links this with the domain's program
 * (`import * as program from "<the cfg's kernel file>"`), so the program is already loaded when the
 * kernel boots — there is no module loader in a domU. Boots the kernel on the machine's arch layer
 * and runs the program as init.
 */
import { bootInfoFromArch } from "../kernel/archboot.ts";
import { bootKernel } from "../kernel/main.ts";
import type { ProgramModule } from "../kernel/program.ts";
import { currentArch } from "./handoff.ts";

/** Boots the kernel with `program` as init; without one, the shell is init. */
export function bootRealmKernel(program: Partial<ProgramModule> | undefined, name: string): void {
  const boot = bootInfoFromArch(currentArch());
  const main = program?.default;
  // A program without main is refused before the kernel boots, like one that throws while loading:
  // the domain crashes during boot, so `pvkit create` fails with this reason.
  if (program && typeof main !== "function") {
    throw new Error(`program ${name} has no default export function main(k)`);
  }
  if (main) boot.program = main;
  void bootKernel(boot).done;
}
