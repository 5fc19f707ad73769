/**
 * `pvkit block-list <domain>`: a domain's virtual disks as `xl block-list` shows them (virtual
 * device number, backend domain, handle, frontend state, event channel, ring ref, backend path),
 * plus the image each one serves. `--json` prints the rows as they came.
 */
import type { Command } from "commander";
import { type BlockDeviceRow, formatBlockList } from "@pvkit/abi/toolstack-protocol";
import { ControlClient } from "./client.ts";

export function registerBlockList(program: Command, socketPath: () => string): void {
  program
    .command("block-list <domain>")
    .description("a domain's virtual disks (xl block-list)")
    .option("--json", "print the rows as JSON")
    .action(async (domain: string, opts: { json?: boolean }) => {
      const c = await ControlClient.open(socketPath());
      try {
        const rows = await c.request<BlockDeviceRow[]>({ op: "block-list", domain });
        process.stdout.write(opts.json ? JSON.stringify(rows, null, 2) + "\n" : formatBlockList(rows));
      } finally {
        c.close();
      }
    });
}
