/**
 * `pnpm pingpong`: two guests talking through a shared page and an event channel. Boots the host,
 * creates pong (the vchan server) and ping (the client) from their cfg files, introduces them to each
 * other as a toolstack would (dom0 writes each one's `data/peer`), shows both consoles, and ends when
 * both domains have powered off. The same by hand, with a host running (`pnpm pvkit up`):
 *
 *   pnpm pvkit create examples/pingpong/pong.cfg && pnpm pvkit create -c examples/pingpong/ping.cfg
 *   (in a second terminal)
 *   pnpm pvkit xenstore-write /local/domain/<pong id>/data/peer <ping id>
 *   pnpm pvkit xenstore-write /local/domain/<ping id>/data/peer <pong id>
 */
import { mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHost } from "@pvkit/hypervisor/cli/host";
import { ControlClient } from "@pvkit/hypervisor/cli/client";

const runDir = mkdtempSync(join(tmpdir(), "pvkit-pingpong-"));
const socket = join(runDir, "control.sock");
const host = await startHost({
  socket,
  log: (l) => void (process.env.PVKIT_DEBUG && process.stderr.write(l)),
});
const ctl = await ControlClient.open(socket);

/** Creates the domain of `cfg` (next to this file) and streams its console, each line prefixed. */
async function start(cfg: string): Promise<{ domid: number; gone: Promise<void> }> {
  const file = new URL(cfg, import.meta.url).pathname;
  const d = await ctl.request<{ domid: number; name: string }>({
    op: "create",
    config: await readFile(file, "utf8"),
    file,
  });
  const con = await ControlClient.open(socket);
  await con.request({ op: "console", domain: String(d.domid) });
  let partial = "";
  con.rawMode((bytes) => {
    const lines = (partial + bytes.toString("utf8")).split(/\r?\n/);
    partial = lines.pop()!;
    for (const l of lines) process.stdout.write(`[${d.name.padEnd(4)}] ${l}\n`);
  });
  // The console connection closes when the domain is gone.
  return { domid: d.domid, gone: new Promise((r) => con.socket.once("close", () => r())) };
}

const pong = await start("./pong.cfg");
const ping = await start("./ping.cfg");
await ctl.request({
  op: "xenstore-write",
  path: `/local/domain/${pong.domid}/data/peer`,
  value: `${ping.domid}`,
});
await ctl.request({
  op: "xenstore-write",
  path: `/local/domain/${ping.domid}/data/peer`,
  value: `${pong.domid}`,
});
await Promise.all([ping.gone, pong.gone]);

ctl.close();
await host.close();
rmSync(runDir, { recursive: true, force: true });
process.exit(0);
