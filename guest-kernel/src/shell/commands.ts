/**
 * The shell's command table and its built-in commands. A command gets its arguments and the
 * kernel handle and writes through `k.console`; block and network code add theirs with
 * `registerCommand`. A command must report bad input as a one-line message, never throw past run.
 */
import type { KernelHandle } from "../kernel/program.ts";
import { xenbusStateName } from "../xenbus/state.ts";
import { fsCommands } from "./fs-commands.ts";
import { netCommands } from "./net-commands.ts";
import { ipCommands } from "./ip-commands.ts";
import { tcpCommands } from "./tcp-commands.ts";

export interface Command {
  name: string;
  /** One line: "xs-read PATH". */
  usage: string;
  help: string;
  run(args: string[], k: KernelHandle): Promise<void> | void;
}

/** A set of commands by name. */
export class CommandTable {
  private readonly cmds = new Map<string, Command>();

  register(cmd: Command): void {
    if (!/^[a-z][a-z0-9-]*$/.test(cmd.name)) throw new Error(`bad command name "${cmd.name}"`);
    this.cmds.set(cmd.name, cmd);
  }

  get(name: string): Command | undefined {
    return this.cmds.get(name);
  }

  list(): Command[] {
    return [...this.cmds.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}

/** Needs exactly `n` arguments, else prints usage and returns false. */
function want(args: string[], n: number, cmd: Command, k: KernelHandle): boolean {
  if (args.length === n) return true;
  k.console.print(`usage: ${cmd.usage}`);
  return false;
}

/** "1d 02:03:04" style uptime. */
export function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, "0");
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return `${d > 0 ? `${d}d ` : ""}${hh}:${mm}:${ss}`;
}

/** Builds the table of built-in commands; `help` lists whatever the table holds at the time. */
export function builtinCommands(): CommandTable {
  const t = new CommandTable();
  const add = (c: Command) => t.register(c);
  add({
    name: "help",
    usage: "help",
    help: "list commands",
    run: (_a, k) => {
      for (const c of t.list()) k.console.print(`${c.usage.padEnd(24)} ${c.help}`);
    },
  });
  add({
    name: "echo",
    usage: "echo [WORD...]",
    help: "print the arguments",
    run: (a, k) => k.print(a.join(" ")),
  });
  add({
    name: "uptime",
    usage: "uptime",
    help: "time since boot",
    run: (_a, k) => k.print(`up ${formatUptime(k.time.uptimeMs())}`),
  });
  add({
    name: "free",
    usage: "free",
    help: "memory in pages and KiB",
    run: (_a, k) => {
      const m = k.sys.mem();
      k.print("        pages      KiB");
      for (const [label, pages] of [
        ["total", m.total],
        ["used", m.used],
        ["free", m.free],
        ["max", m.max],
      ] as const) {
        k.print(`${label.padEnd(6)} ${String(pages).padStart(7)} ${String(pages * 4).padStart(8)}`);
      }
    },
  });
  add({
    name: "ps",
    usage: "ps",
    help: "kernel tasks",
    run: (_a, k) => {
      k.print("  ID STATE    WCHAN      SWITCHES NAME");
      for (const p of k.sys.ps()) {
        k.print(
          `${String(p.id).padStart(4)} ${p.state.padEnd(8)} ${(p.wchan || "-").padEnd(10)} ${String(p.switches).padStart(8)} ${p.name}`,
        );
      }
    },
  });
  add({ name: "dmesg", usage: "dmesg", help: "kernel log", run: (_a, k) => k.print(k.sys.dmesg()) });
  add({
    name: "xs-read",
    usage: "xs-read PATH",
    help: "read a xenstore key",
    async run(a, k) {
      if (want(a, 1, this, k)) k.print(await k.xenstore.read(a[0]));
    },
  });
  add({
    name: "xs-write",
    usage: "xs-write PATH VALUE",
    help: "write a xenstore key",
    async run(a, k) {
      if (a.length < 2) return void k.print(`usage: ${this.usage}`);
      await k.xenstore.write(a[0], a.slice(1).join(" "));
    },
  });
  add({
    name: "xs-ls",
    usage: "xs-ls [PATH]",
    help: "list a xenstore directory",
    async run(a, k) {
      if (a.length > 1) return void k.print(`usage: ${this.usage}`);
      const path = a[0] ?? `/local/domain/${k.domid}`;
      for (const name of await k.xenstore.ls(path)) {
        const child = path.endsWith("/") ? path + name : `${path}/${name}`;
        const v = await k.xenstore.tryRead(child);
        k.print(v === undefined || v === "" ? name : `${name} = "${v}"`);
      }
    },
  });
  add({
    name: "devices",
    usage: "devices",
    help: "devices the toolstack gave this domain",
    async run(_a, k) {
      const devs = await k.devices();
      if (devs.length === 0) k.print("no devices");
      for (const d of devs) k.print(`${d.type}/${d.id} ${xenbusStateName(d.state)} backend=${d.backend}`);
    },
  });
  add({
    name: "shutdown",
    usage: "shutdown",
    help: "power the domain off",
    run: async (_a, k) => void (await k.shutdown("poweroff")),
  });
  add({
    name: "reboot",
    usage: "reboot",
    help: "reboot the domain",
    run: async (_a, k) => void (await k.shutdown("reboot")),
  });
  for (const c of fsCommands()) add(c);
  for (const c of netCommands()) add(c);
  for (const c of ipCommands()) add(c);
  for (const c of tcpCommands()) add(c);
  return t;
}
