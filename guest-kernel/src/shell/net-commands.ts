/**
 * The shell's network command: `ifconfig [IFACE]`, each interface as Linux's ifconfig shows it —
 * MAC, MTU, link state, and the frames, bytes and errors netfront counted each way. What only dom0
 * knows comes from the vif's backend directory, which this domain may read: `link-state` ("up" once
 * netback plugged the vif into its bridge) and netback's `statistics/` — frames for us it dropped
 * (no receive buffers posted) and frames from us it refused as malformed.
 */
import type { KernelHandle, NetDevice } from "../kernel/program.ts";
import type { Command } from "./commands.ts";

/** What dom0 says of the vif with `mac`: its link state and netback's drop counters. */
interface BackendView {
  link: string;
  rxDropped: number;
  txRefused: number;
}

async function backendView(k: KernelHandle, mac: string): Promise<BackendView> {
  const dir = `/local/domain/${k.domid}/device/vif`;
  const ids = await k.xenstore.ls(dir).catch(() => [] as string[]);
  for (const id of ids) {
    if ((await k.xenstore.tryRead(`${dir}/${id}/mac`))?.toLowerCase() !== mac.toLowerCase()) continue;
    const backend = await k.xenstore.tryRead(`${dir}/${id}/backend`);
    if (!backend) break;
    const read = (key: string) => k.xenstore.tryRead(`${backend}/${key}`).catch(() => undefined);
    const count = async (key: string) => Number((await read(`statistics/${key}`)) ?? 0) || 0;
    return {
      link: (await read("link-state")) ?? "down",
      rxDropped: await count("rx-dropped"),
      txRefused: await count("tx-errors"),
    };
  }
  return { link: "unknown", rxDropped: 0, txRefused: 0 };
}

/** One interface, in ifconfig's two-level layout. */
export function formatInterface(d: NetDevice, be: BackendView): string[] {
  const s = d.stats();
  const flags = be.link === "up" ? "UP,BROADCAST,RUNNING,MULTICAST" : "BROADCAST,MULTICAST";
  return [
    `${d.name}: flags=<${flags}>  mtu ${d.mtu}  link ${be.link}`,
    `        ether ${d.mac}  queues ${d.queues}`,
    `        RX packets ${s.rxFrames}  bytes ${s.rxBytes}  errors ${s.rxErrors}  dropped ${be.rxDropped}`,
    `        TX packets ${s.txFrames}  bytes ${s.txBytes}  errors ${s.txErrors}  refused ${be.txRefused}`,
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
          for (const line of formatInterface(d, await backendView(k, d.mac))) k.print(line);
        }
      },
    },
  ];
}
