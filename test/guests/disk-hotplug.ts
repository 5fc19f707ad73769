/**
 * A guest for test/e2e/blk-hotplug.test.ts. For each round (`rounds=N`, default 2) it waits for
 * xvdb to appear (`pvkit block-attach`), reads its first 64 KiB and prints
 * `{"phase":"attached<round>",...}` with their FNV-1a sum and the disk's size; then waits for it
 * to go (`pvkit block-detach`) and prints `{"phase":"detached<round>",...}` with what a read through
 * the handle it had says. Then it idles. It looks every 10 ms: the test's hang guard bounds it.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

function fnv(bytes: Uint8Array, h = 0x811c9dc5): number {
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  return h;
}

export default async function main(k: KernelHandle): Promise<void> {
  const rounds = Number(/(?:^|\s)rounds=(\d+)/.exec(k.cmdline)?.[1] ?? "2");
  k.print(JSON.stringify({ phase: "ready", disks: k.blk.list().map((d) => d.name) }));
  const present = () => k.blk.list().some((d) => d.name === "xvdb");
  for (let round = 1; round <= rounds; round++) {
    while (!present()) await k.sleep(10);
    const disk = k.blk.get("xvdb");
    const head = new Uint8Array(65536);
    await disk.read(0, head);
    k.print(JSON.stringify({ phase: `attached${round}`, sum: fnv(head), sectors: disk.sectors }));
    while (present()) await k.sleep(10);
    const after = await disk.read(0, new Uint8Array(512)).then(
      () => "read",
      (e: unknown) => String(e),
    );
    k.print(JSON.stringify({ phase: `detached${round}`, after, disks: k.blk.list().map((d) => d.name) }));
  }
  await new Promise<never>(() => {});
}
