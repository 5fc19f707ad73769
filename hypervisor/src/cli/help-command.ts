/**
 * `pvkit help [command]`: commander's help, as its implicit help command gives it, except that an
 * unknown command is one error line (commander prints the whole program's help to stderr then).
 */
import type { Command } from "commander";
import { CliError } from "./client.ts";

export function registerHelp(program: Command): void {
  program.helpCommand(false);
  program
    .command("help [command]")
    .description("display help for a command")
    .action((name: string | undefined) => {
      if (name === undefined) return program.outputHelp();
      const cmd = program.commands.find((c) => c.name() === name || c.aliases().includes(name));
      if (!cmd) throw new CliError(`pvkit: help ${name}: no such command (\`pvkit help\` lists them)`);
      cmd.outputHelp();
    });
}
