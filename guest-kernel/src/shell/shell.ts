/**
 * The shell: reads a line from the console, splits it into words, runs the command from the
 * table. It is the domain's init when no program is given. A failing command prints one line
 * ("xs-read: xenstore ENOENT") and the shell carries on; only `shutdown`/`reboot` end it.
 */
import type { KernelHandle } from "../kernel/program.ts";
import { type CommandTable, builtinCommands } from "./commands.ts";

/**
 * Splits a command line into words: whitespace separates, single or double quotes group, a
 * backslash escapes the next character. An unterminated quote runs to the end of the line.
 */
export function parseLine(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === "\\" && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === "\\" && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Runs one command line. Returns false for an unknown command. */
export async function runLine(line: string, k: KernelHandle, table: CommandTable): Promise<boolean> {
  const [name, ...args] = parseLine(line);
  if (name === undefined) return true;
  const cmd = table.get(name);
  if (!cmd) {
    k.print(`${name}: command not found (try help)`);
    return false;
  }
  try {
    await cmd.run(args, k);
  } catch (e) {
    k.print(`${name}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return true;
}

/**
 * The interactive loop. Ctrl-C at the prompt gives a fresh prompt; Ctrl-C while a command runs
 * stops waiting for it (the command's own work is abandoned, not killed: tasks are cooperative).
 * Resolves only if `until()` becomes true (tests, shutdown); as init it never returns.
 */
export async function runShell(
  k: KernelHandle,
  table: CommandTable = builtinCommands(),
  until: () => boolean = () => false,
): Promise<void> {
  const prompt = `dom${k.domid}$ `;
  let atPrompt = false;
  let interrupt: (() => void) | null = null;
  const remove = k.console.onInterrupt(() => {
    if (atPrompt) k.console.write(prompt);
    else interrupt?.();
  });
  try {
    while (!until()) {
      atPrompt = true;
      const line = await k.console.readline(prompt);
      atPrompt = false;
      const stopped = new Promise<void>((r) => (interrupt = r));
      await Promise.race([runLine(line, k, table), stopped]);
      interrupt = null;
    }
  } finally {
    remove();
  }
}
