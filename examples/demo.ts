/**
 * `pnpm demo`: boot the hypervisor and dom0, create the guest of examples/configs/demo.cfg through
 * dom0's toolstack, and put its console on this terminal. The guest's root disk is an ext2 image of
 * examples/rootfs (demo-disk.ts), mounted at /. Try `help`, `ls -l /`, `cat /etc/motd`, `lsblk`,
 * `xs-ls`, `uptime`; `shutdown` powers the guest off and ends the demo. Ctrl-] detaches.
 * Without a terminal (a script piping commands in), stdin lines are typed into the console.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFile } from "node:fs/promises";
import { startHost } from "@pvkit/hypervisor/cli/host";
import { ControlClient } from "@pvkit/hypervisor/cli/client";
import { ensureDemoDisk } from "./demo-disk.ts";

const cfgFile = new URL("./configs/demo.cfg", import.meta.url).pathname;
const runDir = mkdtempSync(join(tmpdir(), "pvkit-demo-"));
const socket = join(runDir, "control.sock");
const quiet = (line: string) => void (process.env.PVKIT_DEBUG && process.stderr.write(line));

process.stdout.write(`pvkit demo: root disk: ${await ensureDemoDisk()}\n`);
process.stdout.write("pvkit demo: booting the hypervisor and dom0...\n");
const t0 = performance.now();
const host = await startHost({ socket, log: quiet });
process.stdout.write(
  `pvkit demo: dom0 up in ${Math.round(performance.now() - t0)} ms (XENSTORED_PATH=${host.xenstored})\n`,
);

const client = await ControlClient.open(socket);
const created = await client.request<{ domid: number; name: string }>({
  op: "create",
  config: await readFile(cfgFile, "utf8"),
  file: cfgFile,
});
process.stdout.write(
  `pvkit demo: created domain ${created.name} (id ${created.domid}); console attached (Ctrl-] to detach)\n\n`,
);

const con = await ControlClient.open(socket);
await con.request({ op: "console", domain: created.name });
con.rawMode((bytes) => process.stdout.write(bytes));

const stdin = process.stdin;
if (stdin.isTTY) stdin.setRawMode(true);
stdin.on("data", (chunk: Buffer) => {
  if (chunk.includes(0x1d)) return void con.close();
  // A terminal sends CR for Enter; piped text has LF: the guest's line editor wants CR.
  con.socket.write(stdin.isTTY ? chunk : Buffer.from(chunk.toString().replace(/\n/g, "\r")));
});
stdin.resume();

await new Promise<void>((resolve) => con.socket.once("close", resolve));
if (stdin.isTTY) stdin.setRawMode(false);
stdin.pause();
process.stdout.write("\npvkit demo: console closed; shutting the host down\n");
client.close();
await host.close();
rmSync(runDir, { recursive: true, force: true }); // the demo leaves nothing behind in /tmp
process.exit(0);
