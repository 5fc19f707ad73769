/**
 * The `pvkit` program described as data, read from commander's own objects: every command with its
 * aliases, positional arguments and options. Shell completion is generated from it, and the
 * bad-input test walks it (`pvkit __commands`), so a command added to the program is completed and
 * tested without anyone listing it again.
 */
import { Help, type Command } from "commander";

/** What a positional argument holds, guessed from its name: what completion offers for it. */
export type ArgKind = "domain" | "file" | "command" | "choice" | "other";

export interface ArgModel {
  name: string;
  required: boolean;
  variadic: boolean;
  kind: ArgKind;
  /** For "choice": the values commander accepts. */
  choices?: string[];
}

export interface OptionModel {
  /** Spellings: "-d", "--delay". */
  flags: string[];
  /** Takes a value ("-d <seconds>"). */
  takesValue: boolean;
  /** A file name is its value (completion offers files). */
  fileValue: boolean;
  description: string;
}

export interface CommandModel {
  name: string;
  aliases: string[];
  description: string;
  args: ArgModel[];
  options: OptionModel[];
  /** Hidden from help (internal helpers such as __complete-domains). */
  hidden: boolean;
}

export interface ProgramModel {
  name: string;
  options: OptionModel[];
  commands: CommandModel[];
}

/** Argument names that hold a domain (by name or id), and those that hold a file path. */
const DOMAIN_ARGS = /^domains?$/;
const FILE_ARGS = /^(cfg|file)$/;

function option(o: Command["options"][number]): OptionModel {
  return {
    flags: [o.short, o.long].filter((f): f is string => f !== undefined),
    takesValue: o.required || o.optional,
    fileValue: /<(file|path)>/.test(o.flags),
    description: o.description,
  };
}

/** Every command of `program`, hidden ones too (marked), commander's implicit `help` included. */
export function commandModel(program: Command): ProgramModel {
  const help = new Help();
  const visible = new Set(help.visibleCommands(program).map((c) => c.name()));
  const commands = [...program.commands];
  // commander adds `help [command]` when asked for it; list it like any other command.
  const implicitHelp = help.visibleCommands(program).find((c) => !commands.includes(c));
  if (implicitHelp) commands.push(implicitHelp);
  return {
    name: program.name(),
    options: [
      ...program.options.map(option),
      { flags: ["-h", "--help"], takesValue: false, fileValue: false, description: "display help" },
    ],
    commands: commands.map((c) => ({
      name: c.name(),
      aliases: c.aliases(),
      description: c.description(),
      args: c.registeredArguments.map((a) => {
        const kind: ArgKind = a.argChoices
          ? "choice"
          : DOMAIN_ARGS.test(a.name())
            ? "domain"
            : FILE_ARGS.test(a.name())
              ? "file"
              : a.name() === "command"
                ? "command"
                : "other";
        return {
          name: a.name(),
          required: a.required,
          variadic: a.variadic,
          kind,
          ...(a.argChoices ? { choices: [...a.argChoices] } : {}),
        };
      }),
      options: [
        ...c.options.map(option),
        { flags: ["-h", "--help"], takesValue: false, fileValue: false, description: "display help" },
      ],
      hidden: !visible.has(c.name()),
    })),
  };
}
