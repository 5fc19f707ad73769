/**
 * The shell's network command: `ifconfig [IFACE]`, each interface as Linux's ifconfig shows it —
 * MAC, MTU, link state, and the frames, bytes and errors netfront counted each way. The link state
 * is what dom0's netback says in the vif's backend directory (`link-state`: "up" once the vif is
 * plugged into its bridge), which this domain may read.
 */
import type { KernelHandle, NetDevice } from "../kernel/program.ts";
import type { Command } from "./commands.ts";

/** The backend's link-state for the vif with `mac`, or "unknown" when the store does not say. */
async function linkState(k: KernelHandle, mac: string): Promise<string> {
  const dir = `/local/domain/${k.domid}/device/vif`;
  const ids = await k.xenstore.ls(dir).catch(() => [] as string[]);
  for (const id of ids) {
    if ((await k.xenstore.tryRead(`${dir}/${id}/mac`))?.toLowerCase() !== mac.toLowerCase()) continue;
    const backend = await k.xenstore.tryRead(`${dir}/${id}/backend`);
    const state = backend
      ? await k.xenstore.tryRead(`${backend}/link-state`).catch(() => undefined)
      : undefined;
    return state ?? "down";
  }
  return "unknown";
}

/** One interface, in ifconfig's two-level layout. */
export function formatInterface(d: NetDevice, link: string): string[] {
  const s = d.stats();
  const flags = link === "up" ? "UP,BROADCAST,RUNNING,MULTICAST" : "BROADCAST,MULTICAST";
  return [
    `${d.name}: flags=<${flags}>  mtu ${d.mtu}  link ${link}`,
    `        ether ${d.mac}  queues ${d.queues}`,
    `        RX packets ${s.rxFrames}  bytes ${s.rxBytes}  errors ${s.rxErrors}`,
    `        TX packets ${s.txFrames}  bytes ${s.txBytes}  errors ${s.txErrors}`,
  ];
}

export function netCommands(): Command[] {
  return [
    {
      name: "ifconfig",
      usage: "ifconfig [IFACE]",
      help: "network interfaces: MAC, MTU, link, counters",
      async run(args, k) {
        if (args.length > 1) return void k.print(`usage: ${this.usage}`);
        const all = k.net.list();
        const chosen = args.length === 0 ? all : all.filter((d) => d.name === args[0]);
        if (args.length === 1 && chosen.length === 0)
          return void k.print(`ifconfig: ${args[0]}: no such interface`);
        if (chosen.length === 0) return void k.print("no network interfaces");
        for (const [i, d] of chosen.entries()) {
          if (i > 0) k.print("");
          for (const line of formatInterface(d, await linkState(k, d.mac))) k.print(line);
        }
      },
    },
  ];
}
