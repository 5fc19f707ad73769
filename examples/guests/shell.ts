/**
 * The demo guest's init: the pvkit shell on the PV console (`help` lists its commands). The kernel
 * runs the shell by itself when a domain has no program; this module makes that choice explicit so
 * a config can name it, and shows how a program can start the shell with extra commands of its own.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { runShell } from "@pvkit/guest-kernel/shell/shell";
import { builtinCommands } from "@pvkit/guest-kernel/shell/commands";

export default async function main(k: KernelHandle): Promise<void> {
  const commands = builtinCommands();
  k.print(`pvkit ${k.sys.version} on domain ${k.domid} — type 'help'`);
  await runShell(k, commands, () => false);
}
