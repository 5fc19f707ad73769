/**
 * xl's hotplug commands, through dom0's toolstack (guest-kernel's dom0/toolstack/device-hotplug.ts
 * says how):
 *   `pvkit block-attach <domain> <disk>`, `pvkit block-detach <domain> <vdev>`: a disk, written as a
 *     cfg's `disk = [...]` entry (a relative target is taken from the directory the command runs in);
 *   `pvkit network-attach <domain> <vif>`, `pvkit network-detach <domain> <devid|mac>`: a network
 *     interface, written as a cfg's `vif = [...]` entry.
 * As with xl, a spec may also come as several arguments (`bridge=pvbr0 ip=10.0.0.3`), joined with
 * commas. Attach returns once the guest has connected the device; detach once the guest let go of it.
 */
import type { Command } from "commander";
import { ControlClient } from "./client.ts";

/** One request on a connection of its own. */
async function ask<T>(socketPath: string, req: Parameters<ControlClient["request"]>[0]): Promise<T> {
  const c = await ControlClient.open(socketPath);
  try {
    return await c.request<T>(req);
  } finally {
    c.close();
  }
}

export function registerDeviceHotplug(program: Command, socketPath: () => string): void {
  program
    .command("block-attach <domain> <disk...>")
    .description(
      "add a disk to a running domain, as `xl block-attach` ('format=raw, vdev=xvdb, access=rw, target=disk.img')",
    )
    .action(async (domain: string, parts: string[]) => {
      const disk = parts.join(", ");
      const r = await ask<{ vdev: string; connected: boolean }>(socketPath(), {
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
    });
  program
    .command("block-detach <domain> <vdev>")
    .description("take a disk from a running domain, as `xl block-detach` (waits for the guest to let go)")
    .option("-f, --force", "remove it without waiting for the guest")
    .action(async (domain: string, vdev: string, opts: { force?: boolean }) => {
      await ask(socketPath(), { op: "block-detach", domain, vdev, force: opts.force === true });
    });
  program
    .command("network-attach <domain> <vif...>")
    .description(
      "add a network interface to a running domain, as `xl network-attach` ('bridge=pvbr0, ip=10.0.0.3'); prints its device id and MAC",
    )
    .action(async (domain: string, parts: string[]) => {
      const vif = parts.join(", ");
      const r = await ask<{ devid: number; mac: string; connected: boolean }>(socketPath(), {
        op: "network-attach",
        domain,
        vif,
      });
      console.log(`${r.devid} ${r.mac}`);
      if (!r.connected)
        console.error(
          `pvkit: network-attach ${domain}: vif ${r.devid} is attached, but the guest has not connected it`,
        );
    });
  program
    .command("network-detach <domain> <devid|mac>")
    .description(
      "take a network interface from a running domain, as `xl network-detach` (waits for the guest to let go)",
    )
    .option("-f, --force", "remove it without waiting for the guest")
    .action(async (domain: string, vif: string, opts: { force?: boolean }) => {
      await ask(socketPath(), { op: "network-detach", domain, vif, force: opts.force === true });
    });
}
