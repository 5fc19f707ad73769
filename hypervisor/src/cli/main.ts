/**
 * `pvkit`: operate a pvkit host like Xen's xl. `pvkit up` runs the machine (hypervisor + dom0) in the
 * foreground; every other command talks to dom0's toolstack over the control socket. Errors are one
 * line on stderr and exit status 1.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Command } from "commander";
import {
  formatDomainList,
  formatHostInfo,
  formatVcpuList,
  type DomainSummary,
  type HostInfo,
} from "@pvkit/abi/toolstack-protocol";
import { CliError, ControlClient } from "./client.ts";
import { attachConsole } from "./console-attach.ts";
import { controlSocket } from "./paths.ts";
import { registerCompletion } from "./completion.ts";
import { createProgress } from "./create-progress.ts";
import { registerHelp } from "./help-command.ts";
import { printLongList } from "./list-long.ts";
import { registerTop } from "./top.ts";
import { registerBlockList } from "./block-list.ts";
import { registerTraceCommand } from "./trace-command.ts";
import { readFileSync } from "node:fs";

const program = new Command("pvkit")
  .version(`pvkit ${packageVersion()}`, "-V, --version", "the pvkit version")
  .description("Operate a pvkit host: a paravirtualized hypervisor in TypeScript, modelled on Xen")
  .option("-s, --socket <path>", "control socket of the host (default: $PVKIT_SOCKET or the run dir)")
  // commander's own errors (unknown command, missing argument) read like every other: "pvkit: ...".
  .configureOutput({ outputError: (str, write) => write(`pvkit: ${str.replace(/^error: /, "")}`) });

/** This package's version (the CLI ships with the hypervisor). */
function packageVersion(): string {
  const pkg = new URL("../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(pkg, "utf8")) as { version: string }).version;
}

const socketPath = () => controlSocket(program.opts<{ socket?: string }>().socket);

async function withClient(fn: (c: ControlClient) => Promise<unknown>): Promise<void> {
  const c = await ControlClient.open(socketPath());
  try {
    await fn(c);
  } finally {
    c.close();
  }
}

program
  .command("up")
  .alias("host")
  .description("boot the hypervisor and dom0 in the foreground and serve the control socket")
  .option("--trace <file>", "record hypercalls/events/grant ops and write a Perfetto trace on exit")
  .option("--pool <n>", "domU workers kept started ahead of need, so create does not wait (0: none)", "2")
  .action(async (opts: { trace?: string; pool: string }) => {
    const { runHost, poolSize } = await import("./host.ts");
    await runHost({ socket: socketPath(), trace: opts.trace, pool: poolSize(opts.pool) });
  });

program
  .command("create <cfg>")
  .description("create a domain from an xl.cfg-style file")
  .option("-c, --console", "attach to its console once it is created")
  .option("--inspect", "start the guest's worker with the Node inspector and print the DevTools URL")
  .option("--inspect-brk", "as --inspect, and the guest waits for the debugger before it runs")
  .action(async (cfg: string, opts: { console?: boolean; inspect?: boolean; inspectBrk?: boolean }) => {
    const file = resolve(cfg);
    const config = await readFile(file, "utf8").catch(() => {
      throw new CliError(`pvkit: ${cfg}: cannot read the config file`);
    });
    const c = await ControlClient.open(socketPath());
    const progress = createProgress(cfg);
    const r = await c
      .request<{ domid: number; name: string; inspector?: string; boot?: string }>(
        { op: "create", config, file, inspect: opts.inspect ?? false, inspectBrk: opts.inspectBrk ?? false },
        (p) => progress.step(p),
      )
      .finally(() => progress.done());
    // `boot` is there only when the guest did not simply boot: "still booting", or how it already ended.
    const after =
      r.boot === undefined
        ? ""
        : r.boot === "still booting"
          ? "; still booting"
          : `; it already ${pastTense(r.boot)}`;
    console.log(`Created domain ${r.name} (id ${r.domid})${after}`);
    if (r.inspector) console.log(`Debugger: ${await devtoolsUrl(r.inspector)}`);
    if (r.inspector && opts.inspectBrk)
      console.log(`Waiting for the debugger: ${r.name} runs once one attaches and resumes it`);
    if (opts.console) await attachConsole(c, String(r.domid));
    else c.close();
  });

/** "poweroff" → "powered off", "reboot" → "rebooted", as a shutdown reason reads after "it already". */
function pastTense(reason: string): string {
  return reason === "poweroff" ? "powered off" : reason === "reboot" ? "rebooted" : `shut down (${reason})`;
}

/** The DevTools URL of a guest's inspector (its /json/list names the session), once it listens. */
async function devtoolsUrl(hostPort: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    try {
      const list = (await (await fetch(`http://${hostPort}/json/list`)).json()) as {
        devtoolsFrontendUrl?: string;
      }[];
      if (list[0]?.devtoolsFrontendUrl) return list[0].devtoolsFrontendUrl;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return `inspector at ${hostPort} (open chrome://inspect and add it)`;
}

program
  .command("list [domains...]")
  .description("list domains (columns as `xl list`), or only those named (by name or id)")
  .option("--json", "one JSON array of the domains instead of the table")
  .option("-l, --long", "each domain's cfg and state as JSON (as `xl list -l`)")
  .action((names: string[], opts: { json?: boolean; long?: boolean }) =>
    withClient(async (c) => {
      if (opts.long) return printLongList(c, names);
      const all = await c.request<DomainSummary[]>({ op: "list" });
      const chosen = names.length === 0 ? all : names.map((n) => pick(all, n));
      process.stdout.write(opts.json ? JSON.stringify(chosen, null, 2) + "\n" : formatDomainList(chosen));
    }),
  );

program
  .command("vcpu-list [domains...]")
  .description("list the domains' vCPUs (as `xl vcpu-list`)")
  .action((names: string[]) =>
    withClient(async (c) => {
      const all = await c.request<DomainSummary[]>({ op: "list" });
      process.stdout.write(
        formatVcpuList(names.length === 0 ? all : names.map((n) => pick(all, n, "vcpu-list"))),
      );
    }),
  );

/** The domain `name` (or id) of `all`, or xl's one-line error. */
function pick(all: DomainSummary[], name: string, op = "list"): DomainSummary {
  const d = all.find((x) => x.name === name || String(x.domid) === name);
  if (!d) throw new CliError(`pvkit: ${op} ${name}: no such domain`);
  return d;
}

program
  .command("info")
  .description("the host: CPUs, total and free memory (as `xl info`)")
  .action(() =>
    withClient(async (c) => process.stdout.write(formatHostInfo(await c.request<HostInfo>({ op: "info" })))),
  );

program
  .command("console <domain>")
  .description("attach to a domain's console (Ctrl-] detaches)")
  .action(async (domain: string) => attachConsole(await ControlClient.open(socketPath()), domain));

for (const op of ["pause", "unpause", "destroy", "reboot"] as const) {
  program
    .command(`${op} <domain>`)
    .description(`${op} a domain (by name or id)`)
    .action((domain: string) => withClient((c) => c.request({ op, domain })));
}

/** A MiB argument, as xl takes it ("512", "512m"; "1g"). */
function mib(value: string): number {
  const m = /^(\d+)([mMgG]?)$/.exec(value);
  const n = m ? Number(m[1]) * (/g/i.test(m[2]!) ? 1024 : 1) : NaN;
  if (!(n >= 1 && n <= 65536))
    throw new CliError(`pvkit: "${value}" is not a size from 1 MiB to 64 GiB (MiB, or with m/g)`);
  return n;
}

program
  .command("mem-set <domain> <size>")
  .description("set a domain's memory target; its balloon follows (as `xl mem-set`)")
  .action((domain: string, size: string) =>
    withClient((c) => c.request({ op: "mem-set", domain, mib: mib(size) })),
  );

program
  .command("mem-max <domain> <size>")
  .description("set the most memory a domain may hold (as `xl mem-max`)")
  .action((domain: string, size: string) =>
    withClient((c) => c.request({ op: "mem-max", domain, mib: mib(size) })),
  );

program
  .command("shutdown <domain>")
  .description("ask a domain to power off gracefully (control/shutdown)")
  .option("-w, --wait", "wait until it is gone")
  .action((domain: string, opts: { wait?: boolean }) =>
    withClient((c) => c.request({ op: "shutdown", domain, wait: opts.wait ?? false })),
  );

program
  .command("dmesg [domain]")
  .description("the hypervisor's console log, or a domain's early (console_io) log")
  .action((domain: string | undefined) =>
    withClient(async (c) =>
      process.stdout.write(await c.request<string>(domain ? { op: "dmesg", domain } : { op: "dmesg" })),
    ),
  );

program
  .command("xenstore-read <path>")
  .action((path: string) =>
    withClient(async (c) => console.log(await c.request<string>({ op: "xenstore-read", path }))),
  );
program
  .command("xenstore-write <path> <value>")
  .action((path: string, value: string) =>
    withClient((c) => c.request({ op: "xenstore-write", path, value })),
  );
program
  .command("xenstore-ls [path]")
  .action((path: string | undefined) =>
    withClient(async (c) =>
      process.stdout.write(await c.request<string>({ op: "xenstore-ls", path: path ?? "/" })),
    ),
  );
program
  .command("xenstore-rm <path>")
  .action((path: string) => withClient((c) => c.request({ op: "xenstore-rm", path })));

program
  .command("init <dir>")
  .description(
    "make a guest project in a new folder: a program, a cfg, and scripts that type-check and run it",
  )
  .action(async (dir: string) => {
    const { initProject } = await import("./init.ts");
    const made = initProject(dir);
    console.log(`Made a guest project in ${dir}:\n  ${made.join("\n  ")}`);
    console.log(`Next: cd ${dir} && npm run typecheck; with a host up (npm run up), npm run create`);
  });

registerTraceCommand(program, socketPath);

registerTop(program, socketPath);
registerBlockList(program, socketPath);
(await import("./device-hotplug.ts")).registerDeviceHotplug(program, socketPath);
(await import("./network-list.ts")).registerNetworkList(program, socketPath);
(await import("./capture.ts")).registerCapture(program, socketPath);
(await import("./uplink.ts")).registerUplink(program, socketPath);
(await import("./impair.ts")).registerImpair(program, socketPath);
(await import("./mkfs.ts")).registerMkfs(program);
registerCompletion(program, socketPath);
registerHelp(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(e instanceof CliError ? e.message : `pvkit: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
