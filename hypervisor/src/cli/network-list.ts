/**
 * `pvkit network-list [domain]`: with a domain, its virtual network interfaces as
 * `xl network-list` shows them (index, backend domain, MAC, handle, frontend state, event channel,
 * tx/rx ring refs, backend path) plus the bridge, link and the vif's counters; without one, every
 * bridge in dom0 with its MAC table's size and each port's counters, and under the table a line for
 * each bridge impaired for tests (`pvkit network-impair`): what is set, and the frames it dropped,
 * reordered and duplicated. `--json` prints the rows.
 */
import type { Command } from "commander";
import {
  formatBridgeList,
  formatNetworkList,
  type BridgeRow,
  type NetworkDeviceRow,
} from "@pvkit/abi/toolstack-protocol";
import { ControlClient } from "./client.ts";

export function registerNetworkList(program: Command, socketPath: () => string): void {
  program
    .command("network-list [domain]")
    .description("a domain's network interfaces (xl network-list), or every bridge and its ports")
    .option("--json", "print the rows as JSON")
    .action(async (domain: string | undefined, opts: { json?: boolean }) => {
      const c = await ControlClient.open(socketPath());
      try {
        if (domain === undefined) {
          const rows = await c.request<BridgeRow[]>({ op: "network-list" });
          process.stdout.write(opts.json ? JSON.stringify(rows, null, 2) + "\n" : formatBridgeList(rows));
        } else {
          const rows = await c.request<NetworkDeviceRow[]>({ op: "network-list", domain });
          process.stdout.write(opts.json ? JSON.stringify(rows, null, 2) + "\n" : formatNetworkList(rows));
        }
      } finally {
        c.close();
      }
    });
}
