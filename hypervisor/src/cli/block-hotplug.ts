/**
 * `pvkit block-attach <domain> <disk>` and `pvkit block-detach <domain> <vdev>` (xl's): a disk into
 * or out of a running domain, through dom0's toolstack (guest-kernel's dom0/toolstack/disk-hotplug.ts
 * says how). `<disk>` is written as a cfg's `disk = [...]` entry; a relative target is taken from
 * the directory the command runs in.
 */
import type { Command } from "commander";
import { ControlClient } from "./client.ts";

export function registerBlockHotplug(program: Command, socketPath: () => string): void {
  program
    .command("block-attach <domain> <disk>")
    .description(
      "add a disk to a running domain, as `xl block-attach` ('format=raw, vdev=xvdb, access=rw, target=disk.img')",
    )
    .action(async (domain: string, disk: string) => {
      const c = await ControlClient.open(socketPath());
      try {
        const r = await c.request<{ vdev: string; connected: boolean }>({
          op: "block-attach",
          domain,
          disk,
          cwd: process.cwd(),
        });
        // Attached either way; a guest whose kernel does not follow device/vbd leaves it unconnected.
        if (!r.connected)
          console.error(
            `pvkit: block-attach ${domain}: ${r.vdev} is attached, but the guest has not connected it`,
          );
      } finally {
        c.close();
      }
    });
  program
    .command("block-detach <domain> <vdev>")
    .description("take a disk from a running domain, as `xl block-detach` (waits for the guest to let go)")
    .option("-f, --force", "remove it without waiting for the guest")
    .action(async (domain: string, vdev: string, opts: { force?: boolean }) => {
      const c = await ControlClient.open(socketPath());
      try {
        await c.request({ op: "block-detach", domain, vdev, force: opts.force === true });
      } finally {
        c.close();
      }
    });
}
