/**
 * `pvkit completion bash|zsh`: prints a completion script for the shell, generated from the program
 * itself, so it always knows every command and option. Two hidden helpers go with it:
 * `__complete-domains` (the running domains' names, which the script asks for when an argument is a
 * domain) and `__commands` (the program as JSON, for tests that walk every command).
 */
import { Argument, type Command } from "commander";
import type { DomainSummary } from "@pvkit/abi/toolstack-protocol";
import { ControlClient } from "./client.ts";
import { commandModel } from "./command-model.ts";
import { bashCompletion, zshCompletion } from "./completion-scripts.ts";

/**
 * How to run this CLI again from a script, exactly as it runs now: node, its flags (tsx's loader),
 * this file's entry. Independent of PATH and aliases, so completion works however pvkit is invoked.
 */
function thisCli(): string[] {
  return [process.execPath, ...process.execArgv, process.argv[1]!];
}

export function registerCompletion(program: Command, socketPath: () => string): void {
  program
    .command("completion")
    .description("print a shell completion script (commands, options, domain names)")
    .addArgument(new Argument("<shell>", "the shell to complete in").choices(["bash", "zsh"]))
    .action((shell: "bash" | "zsh") => {
      const model = commandModel(program);
      process.stdout.write(
        shell === "bash" ? bashCompletion(model, thisCli()) : zshCompletion(model, thisCli()),
      );
    });

  program
    .command("__complete-domains", { hidden: true })
    .description("the running domains' names, one a line (for completion scripts)")
    .action(async () => {
      const c = await ControlClient.open(socketPath());
      try {
        const all = await c.request<DomainSummary[]>({ op: "list" });
        process.stdout.write(all.map((d) => `${d.name}\n`).join(""));
      } finally {
        c.close();
      }
    });

  program
    .command("__commands", { hidden: true })
    .description("every command, its arguments and options, as JSON")
    .action(() => {
      process.stdout.write(JSON.stringify(commandModel(program), null, 2) + "\n");
    });
}
