/**
 * A bridge's VXLAN uplink to the host's network (docs/network.md): `pvkit network-uplink <bridge>
 * vxlan:<local-port>:<remote-ip>:<remote-port>:<vni>` on a running host, or
 * `pvkit up --uplink <bridge>=vxlan:...` (repeatable) to plug it in as the host comes up. dom0 then
 * listens on the local UDP port and exchanges the bridge's frames with the remote VXLAN endpoint.
 */
import type { Command } from "commander";
import { parseVxlanSpec, type UplinkRow } from "@pvkit/abi/toolstack-protocol";
import { CliError, ControlClient } from "./client.ts";

interface UplinkArg {
  bridge: string;
  spec: string;
}

/** `pvbr0=vxlan:...`, checked before anything boots. */
export function parseUplinkArg(value: string): UplinkArg {
  const eq = value.indexOf("=");
  const bridge = eq < 0 ? "" : value.slice(0, eq);
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge))
    throw new CliError(
      `pvkit: up: --uplink: "${value}" is not <bridge>=vxlan:<local-port>:<remote-ip>:<remote-port>:<vni>`,
    );
  const spec = value.slice(eq + 1);
  try {
    parseVxlanSpec(spec);
  } catch (e) {
    throw new CliError(`pvkit: up: --uplink ${bridge}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { bridge, spec };
}

const describe = (u: UplinkRow) =>
  `pvkit: ${u.bridge}: uplink ${u.port} listening on UDP ${u.localPort}, remote ${u.remote}, VNI ${u.vni}\n`;

/** Waits until the host's control socket answers (the host is booting in this same process). */
async function whenUp(socket: string): Promise<ControlClient> {
  for (let i = 0; ; i++) {
    try {
      return await ControlClient.open(socket);
    } catch (e) {
      if (i > 1200) throw e; // 2 minutes: the host did not come up, and says so itself
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export function registerUplink(program: Command, socketPath: () => string): void {
  program
    .command("network-uplink <bridge> <spec>")
    .description("plug a VXLAN uplink into a bridge: vxlan:<local-port>:<remote-ip>:<remote-port>:<vni>")
    .action(async (bridge: string, spec: string) => {
      const c = await ControlClient.open(socketPath());
      try {
        process.stdout.write(describe(await c.request<UplinkRow>({ op: "network-uplink", bridge, spec })));
      } finally {
        c.close();
      }
    });

  // `pvkit up --uplink pvbr0=vxlan:...`: checked before the host boots, plugged in once it is up.
  const up = program.commands.find((cmd) => cmd.name() === "up");
  if (!up) return;
  up.option(
    "--uplink <bridge=vxlan:...>",
    "a VXLAN uplink for a bridge: <bridge>=vxlan:<local-port>:<remote-ip>:<remote-port>:<vni> (repeatable)",
    (v: string, all: UplinkArg[]) => [...all, parseUplinkArg(v)],
    [] as UplinkArg[],
  );
  up.hook("preAction", (cmd) => {
    const uplinks = cmd.opts<{ uplink: UplinkArg[] }>().uplink;
    if (uplinks.length === 0) return;
    void (async () => {
      const c = await whenUp(socketPath());
      try {
        for (const u of uplinks) {
          try {
            process.stderr.write(describe(await c.request<UplinkRow>({ op: "network-uplink", ...u })));
          } catch (e) {
            // The host itself is fine: it runs on, and `pvkit network-uplink` can try again.
            process.stderr.write(
              `${e instanceof Error ? e.message : String(e)}; the host runs on without it\n`,
            );
          }
        }
      } finally {
        c.close();
      }
    })().catch(() => undefined);
  });
}
